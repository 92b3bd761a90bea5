/**
 * A job node's assignment, built as `deckhand run` builds its own, for either backend. What
 * differs between them (the store URL, the runtime, whether the checkout is skipped) is given.
 */
import { localAssignment, type LocalAssignment, type LocalRun } from '../assignment/local.js';
import type { NodeLaunch } from './scheduler.js';

export type NodeAssignmentSettings = Pick<LocalRun, 'storeUrl' | 'sshKeysDir' | 'output' | 'runtime' | 'skipCheckout'> & { contextsFile: string };

export function nodeAssignment(launch: NodeLaunch, settings: NodeAssignmentSettings): LocalAssignment {
  const { node, job, pipeline } = launch;
  const built = localAssignment({
    spec: job.spec!,
    repository: pipeline.sourceDir,
    git: pipeline.git,
    runId: node.id,
    workflowRunId: job.workflowId,
    nodeIndex: node.index,
    nodeTotal: job.parallelism,
    username: pipeline.actor,
    storeUrl: settings.storeUrl,
    upstreamJobRunIds: launch.upstreamJobRunIds,
    skipCheckout: settings.skipCheckout,
    project: { files: [], env: [] },
    contexts: { names: [], file: settings.contextsFile },
    sshKeysDir: settings.sshKeysDir,
    output: settings.output,
    runtime: settings.runtime,
  });
  // a rerun's workspaces are the first run's (CIRCLE_WORKFLOW_ID stays the rerun's own)
  built.assignment.storage.workflowRunId = launch.storageWorkflowId;
  return built;
}
