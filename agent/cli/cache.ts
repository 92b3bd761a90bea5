/** `deckhand cache prune`: deletes the caches past the retention (docs/storage.md). */
import { formatBytes } from '../store/format-bytes.js';
import { cacheRetention, pruneCaches } from '../store/cache-retention.js';
import { openBlobStore } from '../store/open-store.js';
import { UsageError } from '../usage-error.js';

export async function cachePruneCommand(flags: { store?: string }): Promise<number> {
  const retention = cacheRetention();
  if (retention.problem) throw new UsageError(`${retention.problem} (unset it for the default, 15)`);
  const store = await openBlobStore(flags.store);
  const { count, bytes } = await pruneCaches(store, retention.days);
  process.stdout.write(
    count === 0
      ? `No cache in ${store.location} is older than ${retention.days} days\n`
      : `Deleted ${count} cache${count === 1 ? '' : 's'} (${formatBytes(bytes)}) saved more than ${retention.days} days ago from ${store.location}\n`,
  );
  return 0;
}
