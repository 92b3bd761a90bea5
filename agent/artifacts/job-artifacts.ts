/**
 * What `store_artifacts` stored in this process, per job run, for the listing at the end of
 * `deckhand execute` and `deckhand run` ("stored per job and listed at the end"): the count, the
 * bytes, the first few paths, and the commands that list and serve them. Kept as the step stores
 * them, so the listing costs no store round trip (an S3 listing is one HEAD per artifact) and
 * cannot fail at the end of a job. Bounded: beyond the first paths only the totals grow.
 */
import { formatBytes } from '../store/format-bytes.js';
import { DEFAULT_ARTIFACTS_LISTEN } from './listen.js';
import { defaultStoreDir } from '../store/open-store.js';

/** Paths named at the end of a job; the rest are counted ("… and 12 more"). */
export const LISTED_PATHS = 20;

export interface JobRunArtifactsStored {
  jobRunId: string;
  /** the store's location (`/root/.deckhand/store`, `s3://bucket/prefix/`) */
  location: string;
  count: number;
  bytes: number;
  /** the first LISTED_PATHS paths with their sizes, in the order they were stored */
  first: { path: string; size: number }[];
}

const byJobRun = new Map<string, JobRunArtifactsStored>();

/** Called by store_artifacts for each artifact it stored. */
export function recordStoredArtifact(storage: { jobRunId: string; store: { location: string } }, path: string, size: number): void {
  const run = byJobRun.get(storage.jobRunId) ?? { jobRunId: storage.jobRunId, location: storage.store.location, count: 0, bytes: 0, first: [] };
  run.count++;
  run.bytes += size;
  if (run.first.length < LISTED_PATHS) run.first.push({ path, size });
  byJobRun.set(storage.jobRunId, run);
}

/** What job run `jobRunId` stored in this process, or undefined when it stored no artifact. */
export function storedArtifacts(jobRunId: string): JobRunArtifactsStored | undefined {
  return byJobRun.get(jobRunId);
}

/** The `--store` a later command needs to find this store: nothing for the default one. */
export function storeFlag(location: string): string {
  return location === defaultStoreDir() ? '' : ` --store ${shellQuote(location)}`;
}

/** The lines printed at the end of a job that stored artifacts; empty when it stored none. */
export function formatStoredArtifacts(jobRunId: string): string {
  const run = byJobRun.get(jobRunId);
  if (!run) return '';
  const store = storeFlag(run.location);
  const width = Math.max(...run.first.map((a) => a.path.length));
  const lines = [
    `Artifacts of job run ${jobRunId}: ${run.count} file${run.count === 1 ? '' : 's'}, ${formatBytes(run.bytes)}, in ${run.location}`,
    ...run.first.map((a) => `  ${a.path.padEnd(width)}  ${formatBytes(a.size)}`),
    ...(run.count > run.first.length ? [`  … and ${run.count - run.first.length} more`] : []),
    `List them: deckhand artifacts list ${jobRunId}${store}`,
    `Serve them: deckhand artifacts serve${store}, then open http://${DEFAULT_ARTIFACTS_LISTEN}/artifacts/${jobRunId}/`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes formatStoredArtifacts to `out` (nothing when the job stored no artifact). */
export function printStoredArtifacts(jobRunId: string, out: { write(text: string): unknown }): void {
  const text = formatStoredArtifacts(jobRunId);
  if (text) out.write(text);
}

/**
 * The lines under `deckhand run`'s summary: each job (parallel node) that stored artifacts, with
 * its job run id and the commands; empty when none did.
 */
export function formatWorkflowArtifacts(jobRuns: { label: string; jobRunId: string }[]): string {
  const stored = jobRuns.flatMap((j) => {
    const run = byJobRun.get(j.jobRunId);
    return run ? [{ ...j, run }] : [];
  });
  if (stored.length === 0) return '';
  const width = Math.max(...stored.map((s) => s.label.length));
  const stores = [...new Set(stored.map((s) => s.run.location))];
  const lines = [
    `Artifacts (in ${stores.join(', ')}):`,
    ...stored.map((s) => `  ${s.label.padEnd(width)}  ${s.run.count} file${s.run.count === 1 ? '' : 's'}, ${formatBytes(s.run.bytes)}: deckhand artifacts list ${s.jobRunId}${storeFlag(s.run.location)}`),
    `Serve them: deckhand artifacts serve${storeFlag(stores[0])}, then open http://${DEFAULT_ARTIFACTS_LISTEN}/artifacts/`,
  ];
  return `${lines.join('\n')}\n`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
