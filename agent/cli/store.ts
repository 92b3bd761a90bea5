/** `deckhand store prune` and `deckhand cache prune`: delete what is past its retention (docs/storage.md). */
import { formatBytes } from '../store/format-bytes.js';
import { openBlobStore } from '../store/open-store.js';
import { prune, retention, RETENTION, type RetainedKind } from '../store/retention.js';
import { UsageError } from '../usage-error.js';

/** One line per kind: what was deleted, or that nothing is old enough. */
export async function pruneCommand(flags: { store?: string }, kinds: RetainedKind[]): Promise<number> {
  // every period is checked before anything is deleted
  const periods = kinds.map((kind) => {
    const period = retention(kind);
    if (period.problem) throw new UsageError(`${period.problem} (unset it for the default, ${RETENTION[kind].defaultDays})`);
    return { kind, days: period.days };
  });
  const store = await openBlobStore(flags.store);
  for (const { kind, days } of periods) {
    const { count, bytes } = await prune(store, kind, days);
    const [one, many] = RETENTION[kind].noun;
    process.stdout.write(
      count === 0
        ? `No ${one} in ${store.location} is older than ${days} days\n`
        : `Deleted ${count} ${count === 1 ? one : many} (${formatBytes(bytes)}) saved more than ${days} days ago from ${store.location}\n`,
    );
  }
  return 0;
}
