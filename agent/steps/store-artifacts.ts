/**
 * `store_artifacts`: every file under `path` (a file or a folder of the primary container,
 * `~` and working-directory-relative resolved) is stored as a blob of its own under this job
 * run, named `destination` (default: the path without its leading `/`, as CircleCI names
 * artifacts) plus its path below `path`, so that each can be listed and served on its own. Files
 * stream from the container's tar straight into the store. Folders and symbolic links are not
 * artifacts. A path that does not exist is a warning, not a failure, as on CircleCI.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { StoreArtifactsStep } from '../jobspec/jobspec.js';
import { formatBytes } from '../store/format-bytes.js';
import { artifactPrefix } from '../store/keys.js';
import { failureResult } from './container-script.js';
import { resolvePath } from './shell.js';
import type { StepHandler } from './step.js';

export const storeArtifactsStep: StepHandler<StoreArtifactsStep> = async (step, ctx) => {
  const say = (line: string): void => ctx.output.write('agent', `${line}\n`);
  try {
    const path = posix.normalize(resolvePath(step.path, ctx.home, ctx.workingDirectory)).replace(/(.)\/+$/, '$1');
    const destination = (step.destination ?? path).replace(/^\/+|\/+$/g, '');
    if (!(await ctx.executor.exists(path))) {
      say(`No artifact files found at ${path}`);
      return { status: 'success' };
    }
    say(`Uploading ${path} to ${destination || '.'}`);
    const { store, jobRunId } = ctx.storage;
    const out = await ctx.executor.copyOut(path, ctx.signal);
    const extract = tar.extract();
    const feeding = pipeline(out, extract);
    feeding.catch(() => undefined);
    const base = path.split('/').pop() ?? '';
    let count = 0;
    let bytes = 0;
    const t0 = Date.now();
    for await (const entry of extract) {
      const h = entry.header;
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      const below = h.name === base ? '' : h.name.slice(base.length + 1);
      const name = [destination, below].filter((s) => s !== '').join('/') || base;
      await store.put(`${artifactPrefix(jobRunId)}${name}`, Readable.from(entry), { metadata: { mode: (h.mode ?? 0o644).toString(8) } });
      ctx.storage.artifacts?.record(name, h.size ?? 0);
      say(`  Uploading ${posix.join(path, below)} (${formatBytes(h.size ?? 0)}): OK`);
      count++;
      bytes += h.size ?? 0;
    }
    await feeding;
    say(count === 0 ? `No artifact files found at ${path}` : `Uploaded ${count} artifact${count === 1 ? '' : 's'}, ${formatBytes(bytes)}, to ${store.location} in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    return { status: 'success' };
  } catch (err) {
    return failureResult(ctx, err);
  }
};
