/** `deckhand store prune` and `deckhand cache prune`: delete what is past its retention (docs/storage.md). */
import { formatBytes } from '../store/format-bytes.js';
import { openBlobStore } from '../store/open-store.js';
import { prune, retention, RETENTION, type RetainedKind } from '../store/retention.js';
import { UsageError } from '../errors.js';

/** One line per kind: what was deleted, or that nothing is old enough. */
export async function pruneCommand(flags: { store?: string }, kinds: RetainedKind[]): Promise<number> {
  // every period is checked before anything is deleted
  const periods = kinds.map((kind) => {
    const period = retention(kind, process.env);
    if (period.problem) throw new UsageError(`${period.problem} (unset it for the default, ${RETENTION[kind].defaultDays})`);
    return { kind, days: period.days };
  });
  const store = await openBlobStore(flags.store);
  for (const { kind, days } of periods) {
    const { count, bytes, ownRetention } = await prune(store, kind, days);
    const [one, many] = RETENTION[kind].noun;
    // caches whose job set `retention: {caches: Nd}` go by that period instead
    const own = ownRetention > 0 ? ` (${ownRetention} of them past their job's own retention.caches)` : '';
    process.stdout.write(
      count === 0
        ? `No ${many} in ${store.location} past the retention of ${days} days\n`
        : `Deleted ${count} ${count === 1 ? one : many} (${formatBytes(bytes)}) saved more than ${days} days ago${own} from ${store.location}\n`,
    );
  }
  return 0;
}
