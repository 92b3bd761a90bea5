/**
 * Where each kind of data lives in the store, scoped as on CircleCI: caches per project,
 * workspace layers per workflow run and job run, artifacts per job run.
 *
 *   caches/<project id>/<cache key>
 *   workspaces/<workflow run id>/<job run id>/<layer number, 6 digits>
 *   artifacts/<job run id>/<artifact path>
 *
 * The project id is the first 16 hex digits of the SHA-256 of the project (its origin URL or
 * path): short, safe in any key, and the same for every clone of one repository.
 */
import { createHash } from 'node:crypto';
import type { JobStorage } from './job-storage.js';

export function projectId(project: string): string {
  return createHash('sha256').update(project).digest('hex').slice(0, 16);
}

/** Where every project's caches are. */
export const CACHES_PREFIX = 'caches/';

/** The store key of a cache key, or (a prefix) the start of one. */
export function cacheBlobKey(storage: Pick<JobStorage, 'project'>, key: string): string {
  return `${CACHES_PREFIX}${projectId(storage.project)}/${key}`;
}

/** Where every workflow run's workspace layers are. */
export const WORKSPACES_PREFIX = 'workspaces/';

export function workspaceLayerPrefix(workflowRunId: string, jobRunId: string): string {
  return `${WORKSPACES_PREFIX}${workflowRunId}/${jobRunId}/`;
}

export function workspaceLayerKey(workflowRunId: string, jobRunId: string, sequence: number): string {
  return `${workspaceLayerPrefix(workflowRunId, jobRunId)}${String(sequence).padStart(6, '0')}`;
}

/**
 * How many layers a job run persisted (metadata `layers`), beside its layers and outside their
 * prefix: a layer deleted from the store is then told from a job that persisted nothing.
 */
export function workspaceManifestKey(workflowRunId: string, jobRunId: string): string {
  return `${WORKSPACES_PREFIX}${workflowRunId}/${jobRunId}.layers`;
}

/** Where every job run's artifacts are. */
export const ARTIFACTS_PREFIX = 'artifacts/';

export function artifactPrefix(jobRunId: string): string {
  return `${ARTIFACTS_PREFIX}${jobRunId}/`;
}
