/**
 * `restore_cache`: the keys (`key`, then `keys`, in order) are rendered, and each is a prefix:
 * of the project's caches whose key starts with it, the most recently saved wins (CircleCI's
 * rule, even over an exact match). The cache goes back to the absolute paths it was saved from.
 * A cache saved longer ago than the retention (15 days, as CircleCI's default) is a miss.
 *
 * A cache is an optimisation: nothing about it fails the job. No match, a corrupt or truncated
 * archive (checked against its SHA-256 before a file is touched) or a store that cannot be read
 * is a miss with a warning; only a key template that cannot be rendered fails the step.
 */
import type { RestoreCacheStep } from '../jobspec/jobspec.js';
import { formatBytes } from '../store/format-bytes.js';
import type { BlobInfo, BlobStore } from '../store/blob-store.js';
import { cacheDays, isExpired, retention } from '../store/retention.js';
import { cacheBlobKey } from '../store/keys.js';
import { restoreArchive } from '../store/stored-archive.js';
import { SHA256_KEY } from '../store/archive.js';
import { containerKeySources, renderCacheKey } from './cache-key.js';
import { failureResult } from './container-script.js';
import { CACHE_BUILD_KEY, CACHE_PATHS_KEY } from './save-cache.js';
import type { StepHandler } from './step.js';

export const restoreCacheStep: StepHandler<RestoreCacheStep> = async (step, ctx) => {
  const say = (line: string): void => ctx.output.write('agent', `${line}\n`);
  let keys: string[];
  try {
    const sources = containerKeySources(ctx);
    keys = [];
    for (const template of step.keys) keys.push(await renderCacheKey(template, sources));
  } catch (err) {
    return failureResult(ctx, err);
  }
  const { store } = ctx.storage;
  const period = ctx.storage.cacheRetention ?? retention('caches', {});
  if (period.problem) say(`Warning: ${period.problem}; using ${period.days} days`);
  for (const key of keys) {
    if (ctx.signal.aborted) return { status: 'canceled' };
    const prefix = cacheBlobKey(ctx.storage, '');
    let found: BlobInfo | undefined;
    try {
      found = await newest(store, cacheBlobKey(ctx.storage, key), (damaged) =>
        say(`Warning: the cache record of ${damaged.key.slice(prefix.length)} in ${store.location} is damaged (${damaged.damaged}); it counts as a miss, and the next save_cache of that key replaces it`),
      );
    } catch (err) {
      say(`Warning: cannot look up caches for key ${key} in ${store.location}: ${message(err)}; treating it as a cache miss`);
      continue;
    }
    if (!found) {
      say(`No cache is found for key: ${key}`);
      continue;
    }
    // the newest match is past the retention, so every match is: as if CircleCI had dropped them
    const days = cacheDays(found, period.days);
    if (isExpired(found, days)) {
      say(`No cache is found for key: ${key} (the newest match, saved ${found.modified.toISOString()}, is past the ${days}-day cache retention)`);
      continue;
    }
    const foundKey = found.key.slice(prefix.length);
    say(`Found a cache from build ${found.metadata[CACHE_BUILD_KEY] || 'unknown'} at ${foundKey}`);
    say(`Size: ${formatBytes(found.size)}`);
    const paths = cachedPaths(found);
    if (paths.length > 0) {
      say('Cached paths:');
      for (const p of paths) say(`  * ${p}`);
    }
    say('');
    say('Downloading cache archive...');
    say('Validating cache...');
    const t0 = Date.now();
    let problem: string | undefined;
    try {
      problem = await restoreArchive(store, found, ctx.executor, '/', ctx.signal);
    } catch (err) {
      if (ctx.signal.aborted) return { status: 'canceled' };
      say(`Warning: unarchiving the cache at ${foundKey} failed: ${message(err)}; the job goes on without it`);
      return { status: 'success' };
    }
    if (problem) {
      say(`Warning: skipping the cache at ${foundKey}: ${problem}; treating it as a cache miss`);
      continue;
    }
    say('');
    say('Unarchiving cache...');
    say(`Restored ${formatBytes(found.size)} in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    return { status: 'success' };
  }
  return { status: 'success' };
};

/** The most recently saved complete cache whose store key starts with `prefix`. */
async function newest(store: BlobStore, prefix: string, onDamaged: (blob: BlobInfo) => void): Promise<BlobInfo | undefined> {
  const listed = await store.list(prefix);
  for (const b of listed) if (b.damaged) onDamaged(b);
  const candidates = listed.filter((b) => !b.damaged && b.metadata[SHA256_KEY]);
  candidates.sort((a, b) => b.modified.getTime() - a.modified.getTime() || (a.key < b.key ? 1 : -1));
  return candidates[0];
}

function cachedPaths(info: BlobInfo): string[] {
  const raw = info.metadata[CACHE_PATHS_KEY];
  if (!raw) return [];
  try {
    const parsed: unknown = JSON.parse(decodeURIComponent(raw));
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
