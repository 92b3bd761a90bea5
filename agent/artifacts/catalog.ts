/**
 * What artifacts a store holds: the job runs that stored some (newest first), and one job run's
 * artifacts (by path). Works on any BlobStore; artifacts live at `artifacts/<job run id>/<path>`
 * (agent/store/keys.ts).
 */
import type { Readable } from 'node:stream';
import type { BlobStore, ByteRange } from '../store/blob-store.js';
import { ARTIFACTS_PREFIX, artifactPrefix } from '../store/keys.js';
import { UsageError } from '../errors.js';

export interface Artifact {
  /** the artifact's path within its job run, as `store_artifacts` named it */
  path: string;
  size: number;
  modified: Date;
}

export interface JobRunArtifacts {
  jobRunId: string;
  count: number;
  bytes: number;
  /** when its newest artifact was stored */
  modified: Date;
}

/** Job run ids are what `deckhand execute`/`run` make (UUIDs) or `--job-run-id` gave. */
const JOB_RUN_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function isJobRunId(id: string): boolean {
  return JOB_RUN_ID.test(id);
}

/** Throws a UsageError naming the rule unless `id` can be a job run id. */
export function checkJobRunId(id: string): void {
  if (!isJobRunId(id)) throw new UsageError(`job run id ${JSON.stringify(id)} is not valid: 1-128 letters, digits, '.', '_' or '-' (see \`deckhand artifacts list\`)`);
}

/**
 * An artifact path is `/`-separated segments, none empty, `.` or `..`, and no NUL: what
 * `store_artifacts` writes. Anything else names no artifact (and must never reach a store).
 */
export function isArtifactPath(path: string): boolean {
  if (path === '' || path.includes('\0')) return false;
  return path.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Every job run with artifacts, newest first. */
export async function listJobRuns(store: BlobStore): Promise<JobRunArtifacts[]> {
  const runs = new Map<string, JobRunArtifacts>();
  for (const blob of await store.list(ARTIFACTS_PREFIX)) {
    const rest = blob.key.slice(ARTIFACTS_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const jobRunId = rest.slice(0, slash);
    const run = runs.get(jobRunId) ?? { jobRunId, count: 0, bytes: 0, modified: blob.modified };
    run.count++;
    run.bytes += blob.size;
    if (blob.modified > run.modified) run.modified = blob.modified;
    runs.set(jobRunId, run);
  }
  return [...runs.values()].sort((a, b) => b.modified.getTime() - a.modified.getTime() || a.jobRunId.localeCompare(b.jobRunId));
}

/** Job run `jobRunId`'s artifacts, by path; empty when it stored none. */
export async function listArtifacts(store: BlobStore, jobRunId: string): Promise<Artifact[]> {
  checkJobRunId(jobRunId);
  const prefix = artifactPrefix(jobRunId);
  return (await store.list(prefix))
    .map((b) => ({ path: b.key.slice(prefix.length), size: b.size, modified: b.modified }))
    .filter((a) => a.path !== '')
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One artifact's size and time, or undefined when there is no such artifact. */
export async function statArtifact(store: BlobStore, jobRunId: string, path: string): Promise<Artifact | undefined> {
  if (!isJobRunId(jobRunId) || !isArtifactPath(path)) return undefined;
  const info = await store.stat(`${artifactPrefix(jobRunId)}${path}`);
  return info && { path, size: info.size, modified: info.modified };
}

/** One artifact's bytes (only `range`'s, when given), or undefined when there is no such artifact. */
export async function openArtifact(store: BlobStore, jobRunId: string, path: string, range?: ByteRange): Promise<Readable | undefined> {
  if (!isJobRunId(jobRunId) || !isArtifactPath(path)) return undefined;
  return store.get(`${artifactPrefix(jobRunId)}${path}`, range);
}
