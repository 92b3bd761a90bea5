/**
 * What a storage step needs to know about the job it runs in: the store, and the identities that
 * scope data as on CircleCI — caches per project, workspaces per workflow run, artifacts and test
 * results per job run.
 */
import type { StoredArtifacts } from '../artifacts/job-artifacts.js';
import type { BlobStore } from './blob-store.js';
import type { Retention } from './retention.js';

export interface JobStorage {
  store: BlobStore;
  /** scopes caches and test timings: one local project = one repository (its origin URL, else its path) */
  project: string;
  /** scopes workspaces: one `deckhand run`, or a fresh id for a lone `deckhand execute` */
  workflowRunId: string;
  /** scopes artifacts and test results: this run of this job */
  jobRunId: string;
  /** the job's name in its workflow (timings are kept per job name) */
  jobName: string;
  /**
   * workspace layers `attach_workspace` applies, oldest first: the job run ids of the upstream
   * jobs in workflow order (set by `deckhand run`; empty for `deckhand execute`)
   */
  upstreamJobRunIds: string[];
  /** the job's `retention: {caches: Nd}`: how long the caches it saves count (else the store's default) */
  cacheRetentionDays?: number;
  /** the store's cache retention (DECKHAND_CACHE_RETENTION_DAYS), for caches whose job set none; default 15 days */
  cacheRetention?: Retention;
  /** the zlib level of caches and workspace layers (DECKHAND_GZIP_LEVEL); default ARCHIVE_GZIP_LEVEL */
  gzipLevel?: number;
  /** what store_artifacts stored, for the listing at the end of the job */
  artifacts?: StoredArtifacts;
}
