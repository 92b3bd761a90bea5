/**
 * How long a cache counts: CircleCI keeps caches 15 days by default (an organisation may shorten
 * it). Here a cache saved longer ago than the retention is a miss for `restore_cache`, may be
 * saved anew by `save_cache` (the expired one is replaced), and is deleted by `deckhand cache
 * prune`. `DECKHAND_CACHE_RETENTION_DAYS` changes the period.
 */
import type { BlobInfo, BlobStore } from './blob-store.js';
import { CACHES_PREFIX } from './keys.js';

export const DEFAULT_CACHE_RETENTION_DAYS = 15;
export const CACHE_RETENTION_VARIABLE = 'DECKHAND_CACHE_RETENTION_DAYS';
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CacheRetention {
  days: number;
  /** set when the variable holds something that is not a whole number of days (the default is used) */
  problem?: string;
}

/** The retention in days from the environment; an unusable value names itself and gives the default. */
export function cacheRetention(env: NodeJS.ProcessEnv = process.env): CacheRetention {
  const raw = env[CACHE_RETENTION_VARIABLE];
  if (raw === undefined || raw.trim() === '') return { days: DEFAULT_CACHE_RETENTION_DAYS };
  const days = Number(raw.trim());
  if (!Number.isSafeInteger(days) || days < 1) {
    return { days: DEFAULT_CACHE_RETENTION_DAYS, problem: `${CACHE_RETENTION_VARIABLE}=${JSON.stringify(raw)} is not a whole number of days of at least 1` };
  }
  return { days };
}

/** Whether a cache saved at `info.modified` has outlived `days` at `now`. */
export function isExpired(info: Pick<BlobInfo, 'modified'>, days: number, now: number = Date.now()): boolean {
  return now - info.modified.getTime() > days * DAY_MS;
}

export interface PruneResult {
  count: number;
  bytes: number;
}

/** Deletes every cache (of every project) in `store` saved more than `days` ago. */
export async function pruneCaches(store: BlobStore, days: number, now: number = Date.now()): Promise<PruneResult> {
  const expired = (await store.list(CACHES_PREFIX)).filter((b) => isExpired(b, days, now));
  for (const b of expired) await store.delete(b.key);
  return { count: expired.length, bytes: expired.reduce((n, b) => n + b.size, 0) };
}
