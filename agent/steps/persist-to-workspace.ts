/**
 * `persist_to_workspace`: `paths` are Go `filepath.Match` globs relative to `root` (absolute, or
 * relative to the working directory), matched as Go's `filepath.Glob(filepath.Join(root, p))`
 * does, as on CircleCI. Everything they match becomes one layer of the workflow's workspace,
 * stored under this job run with the next sequence number; `attach_workspace` in downstream jobs
 * applies the layers in order. A pattern that matches nothing fails the step, as on CircleCI.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import type { PersistToWorkspaceStep } from '../jobspec/jobspec.js';
import { formatBytes } from '../store/format-bytes.js';
import { goGlob, type GlobTree } from '../store/go-glob.js';
import { BadPatternError } from '../store/go-match.js';
import { workspaceLayerKey, workspaceLayerPrefix, workspaceManifestKey } from '../store/keys.js';
import { storeArchive } from '../store/stored-archive.js';
import { captureScript, failureResult, StepFailure } from './container-script.js';
import { resolvePath } from './shell.js';
import type { StepContext, StepHandler } from './step.js';

export const persistToWorkspaceStep: StepHandler<PersistToWorkspaceStep> = async (step, ctx) => {
  const say = (line: string): void => ctx.output.write('agent', `${line}\n`);
  try {
    const root = posix.normalize(resolvePath(step.root, ctx.home, ctx.workingDirectory)).replace(/(.)\/+$/, '$1');
    if (!(await ctx.executor.exists(root))) throw new StepFailure(`persist_to_workspace: root ${root} does not exist`);
    const tree = containerTree(ctx);
    const relative = new Set<string>();
    for (const pattern of step.paths) {
      let matches: string[];
      try {
        matches = await goGlob(posix.join(root, pattern), tree);
      } catch (err) {
        if (err instanceof BadPatternError) throw new StepFailure(`persist_to_workspace: path "${pattern}": ${err.message}`);
        throw err;
      }
      if (matches.length === 0) throw new StepFailure(`The specified paths did not match any files in ${root} (path "${pattern}")`);
      for (const m of matches) relative.add(posix.relative(root, m) || '.');
    }
    const { store, workflowRunId, jobRunId } = ctx.storage;
    const manifestKey = workspaceManifestKey(workflowRunId, jobRunId);
    const manifest = await store.stat(manifestKey);
    const recorded = Number(manifest?.metadata.layers);
    const sequence = Number.isSafeInteger(recorded) && recorded >= 0 ? recorded : (await store.list(workspaceLayerPrefix(workflowRunId, jobRunId))).length;
    const key = workspaceLayerKey(workflowRunId, jobRunId, sequence);
    say('Creating workspace archive...');
    for (const r of relative) say(`  * ${r}`);
    say('Uploading workspace archive...');
    const t0 = Date.now();
    const result = await storeArchive(store, key, ctx.executor, { base: root, names: [...relative] }, {
      metadata: { root, job: ctx.storage.jobName },
      signal: ctx.signal,
      ...(ctx.storage.gzipLevel !== undefined ? { level: ctx.storage.gzipLevel } : {}),
    });
    // how many layers this job run has: attach_workspace tells a layer lost from the store by it
    await store.put(manifestKey, Readable.from([]), { metadata: { layers: String(sequence + 1) } });
    say(`Total size uploaded: ${formatBytes(result.bytes)} (${formatBytes(result.tarBytes)} uncompressed, layer ${sequence + 1}) in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    return { status: 'success' };
  } catch (err) {
    return failureResult(ctx, err);
  }
};

/**
 * The container as a GlobTree: a folder is listed by a POSIX sh loop (no `find` or `ls`
 * parsing needed, any name allowed but NUL), names NUL-separated.
 */
function containerTree(ctx: Pick<StepContext, 'executor' | 'signal'>): GlobTree {
  const script = [
    'cd -- "$1" 2>/dev/null || exit 3',
    'for f in * .*; do',
    '  case "$f" in .|..) continue ;; esac',
    '  if [ -e "$f" ] || [ -L "$f" ]; then printf "%s\\0" "$f"; fi',
    'done',
  ].join('\n');
  return {
    exists: (path) => ctx.executor.exists(path),
    list: async (dir) => {
      const r = await captureScript(ctx, script, [dir]);
      if (r.exitCode === 3) return undefined;
      if (r.exitCode !== 0) throw new StepFailure(`cannot list ${dir} in the primary container: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
      return r.stdout.split('\0').filter((n) => n !== '');
    },
  };
}
