/**
 * What `store_artifacts` stored in one job run, for the listing at the end of `deckhand execute`
 * and `deckhand run`: the count, the bytes, the first few paths, and the commands that list and
 * serve them. Recorded as the step stores them, so the listing costs no store round trip (an S3
 * listing is one HEAD per artifact) and cannot fail at the end of a job; it comes back in the
 * job's result. Bounded: beyond the first paths only the totals grow.
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

/** The record of one job run's artifacts, kept by the job's storage while it runs. */
export class StoredArtifacts {
  private readonly run: JobRunArtifactsStored;

  constructor(jobRunId: string, location: string) {
    this.run = { jobRunId, location, count: 0, bytes: 0, first: [] };
  }

  /** Called by store_artifacts for each artifact it stored. */
  record(path: string, size: number): void {
    this.run.count++;
    this.run.bytes += size;
    if (this.run.first.length < LISTED_PATHS) this.run.first.push({ path, size });
  }

  /** What the job run stored, or undefined when it stored no artifact. */
  stored(): JobRunArtifactsStored | undefined {
    return this.run.count === 0 ? undefined : { ...this.run, first: [...this.run.first] };
  }
}

/** The `--store` a later command needs to find this store: nothing for the default one. */
export function storeFlag(location: string): string {
  return location === defaultStoreDir() ? '' : ` --store ${shellQuote(location)}`;
}

/** The lines printed at the end of a job that stored artifacts; empty when it stored none. */
export function formatStoredArtifacts(run: JobRunArtifactsStored | undefined): string {
  if (!run) return '';
  const { jobRunId } = run;
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

/**
 * The lines under `deckhand run`'s summary: each job (parallel node) that stored artifacts, with
 * its job run id and the commands; empty when none did.
 */
export function formatWorkflowArtifacts(jobRuns: { label: string; stored: JobRunArtifactsStored | undefined }[]): string {
  const stored = jobRuns.flatMap((j) => (j.stored ? [{ label: j.label, jobRunId: j.stored.jobRunId, run: j.stored }] : []));
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
