/** The compression level of caches and workspace layers. (A module of its own: reading the setting loads no archive code.) */
import { UsageError } from '../errors.js';

/**
 * zlib level for archives. On a node_modules-like tree level 1 makes a 22% larger archive than
 * level 6 (GNU tar -z's default) but keeps compression from being the bottleneck: the save is
 * ~2x faster than `tar -cz` at level 1 and 1.4x slower at level 6 (docs/benchmarks.md,
 * "Storage").
 */
export const ARCHIVE_GZIP_LEVEL = 1;

/** The zlib level archives are made with: `DECKHAND_GZIP_LEVEL` (0-9, for smaller archives on a slow store), else ARCHIVE_GZIP_LEVEL. */
export function gzipLevel(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env.DECKHAND_GZIP_LEVEL;
  if (raw === undefined || raw === '') return ARCHIVE_GZIP_LEVEL;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new UsageError(`DECKHAND_GZIP_LEVEL must be a whole number from 0 to 9, got "${raw}"`);
  return n;
}
