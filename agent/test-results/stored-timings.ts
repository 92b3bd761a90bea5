/**
 * Timings in the BlobStore, per project and job name (CircleCI keeps them per job): every
 * `store_test_results` adds one record of its run under
 * `timings/<project>/<job>/<time>-<job run id>.tsv`, and readers merge the records newest first.
 * One blob per run, never rewritten by another run, so parallel nodes of one job storing at the
 * same moment cannot lose each other's timings. Past KEEP_RUNS records, the older ones are
 * folded into one, so reading stays a handful of blobs.
 */
import { Readable } from 'node:stream';
import type { BlobStore } from '../store/blob-store.js';
import type { JobStorage } from '../store/job-storage.js';
import { decodeTimings, encodeTimings, mergeTimings, type TimingRecord } from './timings.js';

export const KEEP_RUNS = 20;

type TimingsScope = Pick<JobStorage, 'store' | 'project' | 'jobName'>;

/** One key segment each: a project is often a URL with `/` and `:` in it. */
export function timingsPrefix(scope: Pick<JobStorage, 'project' | 'jobName'>): string {
  return `timings/${encodeURIComponent(scope.project)}/${encodeURIComponent(scope.jobName)}/`;
}

/** Stores this run's timings; returns the key. Key names sort by time, oldest first. */
export async function saveTimings(scope: TimingsScope & Pick<JobStorage, 'jobRunId'>, records: TimingRecord[], now = new Date()): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  const key = `${timingsPrefix(scope)}${stamp}-${encodeURIComponent(scope.jobRunId)}.tsv`;
  await scope.store.put(key, Readable.from([Buffer.from(encodeTimings(records))]), { metadata: { records: String(records.length) } });
  await compact(scope);
  return key;
}

/** Every stored run's timings for this job merged, newest first; [] when there are none. */
export async function loadTimings(scope: TimingsScope): Promise<TimingRecord[]> {
  const keys = await runKeys(scope);
  const runs: TimingRecord[][] = [];
  for (const key of keys.reverse()) runs.push(await readRecords(scope.store, key));
  return mergeTimings(runs);
}

async function runKeys(scope: TimingsScope): Promise<string[]> {
  const infos = await scope.store.list(timingsPrefix(scope));
  return infos.map((i) => i.key).filter((k) => k.endsWith('.tsv')).sort();
}

/** Keeps at most KEEP_RUNS records: the newest KEEP_RUNS - 1, and the older ones folded into one. */
async function compact(scope: TimingsScope): Promise<void> {
  const keys = await runKeys(scope);
  if (keys.length <= KEEP_RUNS) return;
  const old = keys.slice(0, keys.length - KEEP_RUNS + 1);
  const runs: TimingRecord[][] = [];
  for (const key of [...old].reverse()) runs.push(await readRecords(scope.store, key));
  const merged = mergeTimings(runs);
  const into = old[old.length - 1];
  // replacing a blob is atomic in both stores; only then do the folded ones go
  await scope.store.put(into, Readable.from([Buffer.from(encodeTimings(merged))]), { metadata: { records: String(merged.length) } });
  for (const key of old.slice(0, -1)) await scope.store.delete(key);
}

async function readRecords(store: BlobStore, key: string): Promise<TimingRecord[]> {
  const body = await store.get(key);
  if (!body) return []; // deleted by a concurrent compaction: its records live on in the folded one
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return decodeTimings(Buffer.concat(chunks).toString('utf8'));
}
