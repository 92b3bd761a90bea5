/**
 * How long stored data counts, with CircleCI's default periods: caches and workspaces 15 days,
 * artifacts 30 days (each changed by its DECKHAND_*_RETENTION_DAYS variable).
 *
 * A cache saved longer ago than its retention is a miss for `restore_cache` and may be saved anew
 * by `save_cache` (the expired one is replaced). `deckhand store prune` (and `deckhand cache
 * prune`, caches only) deletes what is past its retention; nothing is deleted on its own.
 *
 * What expires is what belongs together: a cache is one blob; a workspace is every layer of one
 * workflow run, and a job run's artifacts go together, each counted from its newest blob — a
 * workspace with some layers gone would attach a half of what the jobs persisted.
 */
import type { BlobInfo, BlobStore } from './blob-store.js';
import { ARTIFACTS_PREFIX, CACHES_PREFIX, WORKSPACES_PREFIX } from './keys.js';

export type RetainedKind = 'caches' | 'workspaces' | 'artifacts';

export interface KindRetention {
  defaultDays: number;
  variable: string;
  prefix: string;
  /** what expires as one, from a key past the prefix: a cache key, a workflow run, a job run */
  unit(rest: string): string;
  /** for messages: one unit, many units */
  noun: [string, string];
}

const firstSegment = (rest: string): string => rest.slice(0, rest.indexOf('/') + 1 || undefined);

export const RETENTION: Readonly<Record<RetainedKind, KindRetention>> = {
  caches: { defaultDays: 15, variable: 'DECKHAND_CACHE_RETENTION_DAYS', prefix: CACHES_PREFIX, unit: (rest) => rest, noun: ['cache', 'caches'] },
  workspaces: {
    defaultDays: 15,
    variable: 'DECKHAND_WORKSPACE_RETENTION_DAYS',
    prefix: WORKSPACES_PREFIX,
    unit: firstSegment,
    noun: ["workflow run's workspace", "workflow runs' workspaces"],
  },
  artifacts: {
    defaultDays: 30,
    variable: 'DECKHAND_ARTIFACT_RETENTION_DAYS',
    prefix: ARTIFACTS_PREFIX,
    unit: firstSegment,
    noun: ["job run's artifacts", "job runs' artifacts"],
  },
};

const DAY_MS = 24 * 60 * 60 * 1000;

export interface Retention {
  days: number;
  /** set when the variable holds something that is not a whole number of days (the default is used) */
  problem?: string;
}

/** The retention of `kind` in days from the environment; an unusable value names itself and gives the default. */
export function retention(kind: RetainedKind, env: Readonly<Record<string, string | undefined>>): Retention {
  const { variable, defaultDays } = RETENTION[kind];
  const raw = env[variable];
  if (raw === undefined || raw.trim() === '') return { days: defaultDays };
  const days = Number(raw.trim());
  if (!Number.isSafeInteger(days) || days < 1) {
    return { days: defaultDays, problem: `${variable}=${JSON.stringify(raw)} is not a whole number of days of at least 1` };
  }
  return { days };
}

/** Metadata of a cache blob: the retention in days its job gave (`retention: {caches: Nd}`). */
export const CACHE_RETENTION_METADATA = 'retention-days';

/** The days a stored cache counts: its own retention when its job set one, else `fallback`. */
export function cacheDays(info: Pick<BlobInfo, 'metadata'>, fallback: number): number {
  const own = Number(info.metadata[CACHE_RETENTION_METADATA]);
  return Number.isSafeInteger(own) && own >= 1 ? own : fallback;
}

/** Whether something saved at `info.modified` has outlived `days` at `now`. */
export function isExpired(info: Pick<BlobInfo, 'modified'>, days: number, now: number = Date.now()): boolean {
  return now - info.modified.getTime() > days * DAY_MS;
}

export interface PruneResult {
  /** units deleted: caches, workflow runs' workspaces, job runs' artifacts */
  count: number;
  bytes: number;
  /** of the caches deleted, those past a retention of their own (their job's `retention.caches`) */
  ownRetention: number;
}

/**
 * Deletes every unit of `kind` in `store` (of every project) whose newest blob is more than `days`
 * old — for a cache that its job gave a retention of its own, more than that.
 */
export async function prune(store: BlobStore, kind: RetainedKind, days: number, now: number = Date.now()): Promise<PruneResult> {
  const { prefix, unit } = RETENTION[kind];
  const units = new Map<string, BlobInfo[]>();
  for (const blob of await store.list(prefix)) {
    const name = unit(blob.key.slice(prefix.length));
    const blobs = units.get(name);
    if (blobs) blobs.push(blob);
    else units.set(name, [blob]);
  }
  const result: PruneResult = { count: 0, bytes: 0, ownRetention: 0 };
  for (const blobs of units.values()) {
    const newest = blobs.reduce((a, b) => (b.modified > a.modified ? b : a));
    // 0: the cache's job gave it no retention of its own
    const own = kind === 'caches' ? cacheDays(newest, 0) : 0;
    if (!isExpired(newest, own || days, now)) continue;
    for (const b of blobs) await store.delete(b.key);
    result.count += 1;
    result.bytes += blobs.reduce((n, b) => n + b.size, 0);
    if (own > 0) result.ownRetention += 1;
  }
  return result;
}
