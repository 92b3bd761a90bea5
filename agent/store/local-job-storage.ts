/**
 * The JobStorage of a local run: caches scoped by project (the repository's origin URL, else
 * its path, so clones of one repository share caches as CircleCI's project does), workspaces by
 * the workflow run, artifacts by the job run.
 */
import { resolve } from 'node:path';
import type { BlobStore } from './blob-store.js';
import type { JobStorage } from './job-storage.js';

export interface LocalRun {
  /** the local repository (its path scopes caches when it has no origin remote) */
  repository: string;
  remoteUrl?: string;
  jobName: string;
  jobRunId: string;
  /** default: jobRunId (a lone `deckhand execute` is a workflow of one job) */
  workflowRunId?: string;
  upstreamJobRunIds?: string[];
}

export function localJobStorage(store: BlobStore, run: LocalRun): JobStorage {
  return {
    store,
    project: run.remoteUrl || resolve(run.repository),
    workflowRunId: run.workflowRunId ?? run.jobRunId,
    jobRunId: run.jobRunId,
    jobName: run.jobName,
    upstreamJobRunIds: run.upstreamJobRunIds ?? [],
  };
}
