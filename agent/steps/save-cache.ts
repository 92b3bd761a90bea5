/**
 * `save_cache`: archive `paths` of the primary container under the rendered `key`, scoped to
 * the project. Caches are immutable as on CircleCI: when the key exists the save is skipped with
 * CircleCI's message, and of two jobs saving one key at once the first to finish wins. A cache
 * past the retention (store/retention.ts) no longer counts: it is replaced, as CircleCI would have
 * dropped it.
 */
import { posix } from 'node:path';
import type { SaveCacheStep } from '../jobspec/jobspec.js';
import { formatBytes } from '../store/format-bytes.js';
import { CACHE_RETENTION_METADATA, cacheDays, isExpired, retention } from '../store/retention.js';
import { cacheBlobKey } from '../store/keys.js';
import { storeArchive } from '../store/stored-archive.js';
import { containerKeySources, renderCacheKey } from './cache-key.js';
import { failureResult } from './container-script.js';
import { resolvePath } from './shell.js';
import type { StepContext, StepHandler } from './step.js';

/** metadata of a cache blob: the saving job's build number and the absolute paths it holds */
export const CACHE_BUILD_KEY = 'build-num';
export const CACHE_PATHS_KEY = 'paths';
/** S3 keeps at most 2 KB of metadata per object: longer path lists are left out */
const MAX_PATHS_METADATA = 1500;

export const saveCacheStep: StepHandler<SaveCacheStep> = async (step, ctx) => {
  const say = (line: string): void => ctx.output.write('agent', `${line}\n`);
  try {
    const key = await renderCacheKey(step.key, containerKeySources(ctx));
    const { store } = ctx.storage;
    const blobKey = cacheBlobKey(ctx.storage, key);
    let existing = await store.stat(blobKey);
    if (existing?.damaged) {
      say(`Warning: the cache record of ${key} in ${store.location} is damaged (${existing.damaged}); replacing the cache`);
      await store.delete(blobKey);
      existing = undefined;
    }
    const days = existing ? cacheDays(existing, (ctx.storage.cacheRetention ?? retention('caches', {})).days) : 0;
    if (existing && isExpired(existing, days)) {
      say(`Replacing the cache for key: ${key}, saved ${existing.modified.toISOString()}: it is past the ${days}-day cache retention`);
      await store.delete(blobKey);
      existing = undefined;
    }
    if (existing) {
      say(`Skipping cache generation, cache already exists for key: ${key}`);
      say(`Found one created at ${existing.modified.toISOString()}`);
      return { status: 'success' };
    }
    const paths = await existingPaths(step.paths, ctx, say);
    if (paths.length === 0) {
      say('Warning: none of the paths to cache exist; no cache saved');
      return { status: 'success' };
    }
    say('Creating cache archive...');
    say(`Uploading cache archive to ${store.location}...`);
    const t0 = Date.now();
    const encodedPaths = encodeURIComponent(JSON.stringify(paths));
    const result = await storeArchive(store, blobKey, ctx.executor, { base: '/', names: paths.map((p) => (p === '/' ? '.' : p.slice(1))) }, {
      ifAbsent: true,
      metadata: {
        [CACHE_BUILD_KEY]: ctx.environment.CIRCLE_BUILD_NUM ?? '',
        ...(encodedPaths.length <= MAX_PATHS_METADATA ? { [CACHE_PATHS_KEY]: encodedPaths } : {}),
        ...(ctx.storage.cacheRetentionDays !== undefined ? { [CACHE_RETENTION_METADATA]: String(ctx.storage.cacheRetentionDays) } : {}),
      },
      signal: ctx.signal,
      ...(ctx.storage.gzipLevel !== undefined ? { level: ctx.storage.gzipLevel } : {}),
    });
    if (!result.stored) {
      say(`Skipping cache generation, cache already exists for key: ${key} (saved by another job meanwhile)`);
      return { status: 'success' };
    }
    say(`Stored Cache to ${key}`);
    for (const p of paths) say(`  * ${p}`);
    say(`Cache size: ${formatBytes(result.bytes)} (${formatBytes(result.tarBytes)} uncompressed) in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    return { status: 'success' };
  } catch (err) {
    return failureResult(ctx, err);
  }
};

/** The absolute paths (`~` and working-directory-relative resolved) that exist; warns of the rest. */
async function existingPaths(paths: string[], ctx: StepContext, say: (line: string) => void): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const abs = posix.normalize(resolvePath(p, ctx.home, ctx.workingDirectory)).replace(/(.)\/+$/, '$1');
    if (await ctx.executor.exists(abs)) {
      if (!out.includes(abs)) out.push(abs);
    } else {
      say(`Warning: could not find ${abs} to cache (from "${p}"); skipping it`);
    }
  }
  return out;
}
