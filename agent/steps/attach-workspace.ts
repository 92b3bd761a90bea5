/**
 * `attach_workspace`: the workspace layers of the upstream job runs (JobStorage
 * .upstreamJobRunIds, in workflow order; each job's layers in the order it persisted them) are
 * unpacked into `at`, later layers overwriting earlier files, as on CircleCI.
 *
 * Unlike a cache, a workspace is data the job depends on: a layer that is corrupt or truncated
 * (checked against its SHA-256 before anything is unpacked) or unreadable fails the step, with
 * nothing of that layer applied. With no upstream layers at all (a lone `deckhand execute`, or
 * upstream jobs that persisted nothing) the step says so and succeeds with an empty workspace.
 */
import { posix } from 'node:path';
import type { AttachWorkspaceStep } from '../jobspec/jobspec.js';
import { formatBytes } from '../store/format-bytes.js';
import type { BlobInfo } from '../store/blob-store.js';
import { WORKSPACES_PREFIX, workspaceLayerKey, workspaceLayerPrefix, workspaceManifestKey } from '../store/keys.js';
import { InfrastructureError } from '../errors.js';
import { restoreArchive } from '../store/stored-archive.js';
import { failureOrInfrastructure, StepFailure } from './container-script.js';
import { resolvePath } from './shell.js';
import type { StepHandler } from './step.js';

export const attachWorkspaceStep: StepHandler<AttachWorkspaceStep> = async (step, ctx) => {
  const say = (line: string): void => ctx.output.write('agent', `${line}\n`);
  try {
    const at = posix.normalize(resolvePath(step.at, ctx.home, ctx.workingDirectory));
    const { store, workflowRunId, upstreamJobRunIds } = ctx.storage;
    const layers: BlobInfo[] = [];
    for (const jobRunId of upstreamJobRunIds) {
      const [own, manifest] = await Promise.all([store.list(workspaceLayerPrefix(workflowRunId, jobRunId)), store.stat(workspaceManifestKey(workflowRunId, jobRunId))]);
      own.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      // every layer the job run recorded must be there: a missing one is the store's fault, not the job's
      const recorded = Number(manifest?.metadata.layers);
      if (Number.isSafeInteger(recorded)) {
        const present = new Set(own.map((l) => l.key));
        for (let sequence = 0; sequence < recorded; sequence++) {
          const key = workspaceLayerKey(workflowRunId, jobRunId, sequence);
          if (!present.has(key)) {
            throw new InfrastructureError(`workspace layer ${sequence + 1} of ${recorded} of job run ${jobRunId} (${key}) is missing from ${store.location}; re-run the workflow`);
          }
        }
      }
      layers.push(...own);
    }
    if (layers.length === 0) {
      say(upstreamJobRunIds.length === 0 ? 'No upstream jobs: the workspace is empty, nothing to attach' : 'The upstream jobs persisted nothing to the workspace: nothing to attach');
      return { status: 'success' };
    }
    say(`Downloading workspace layers (${layers.length}, ${formatBytes(layers.reduce((n, l) => n + l.size, 0))})`);
    const t0 = Date.now();
    for (const layer of layers) {
      const name = `${layer.metadata.job ? `${layer.metadata.job}: ` : ''}${layer.key.slice(WORKSPACES_PREFIX.length)}`;
      say(`  ${name} - ${formatBytes(layer.size)}`);
      const problem = await restoreArchive(store, layer, ctx.executor, at, ctx.signal);
      if (problem) throw new StepFailure(`workspace layer ${name} cannot be used: ${problem}; re-run the job that persisted it`);
    }
    say(`Applying workspace layers to ${at}: done in ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    return { status: 'success' };
  } catch (err) {
    // a store that lost what the upstream jobs persisted is an infrastructure failure (exit 2)
    return failureOrInfrastructure(ctx, err);
  }
};
