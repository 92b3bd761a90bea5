/**
 * Test results in the BlobStore, per job run (as CircleCI keeps them per job):
 * `test-results/<job run id>/<upload>/files/<path>` holds the raw files as the job wrote them and
 * `test-results/<job run id>/<upload>/summary.json` the parsed TestResultsSummary. One upload per
 * `store_test_results` step, so a job with two such steps keeps both.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../store/blob-store.js';
import type { TestResultsSummary } from './summary.js';

export function testResultsPrefix(jobRunId: string): string {
  return `test-results/${encodeURIComponent(jobRunId)}/`;
}

/** Where one step's files and summary go: time-ordered, unique per step. */
export function newUploadPrefix(jobRunId: string, now = new Date()): string {
  return `${testResultsPrefix(jobRunId)}${now.getTime().toString(36)}-${randomBytes(3).toString('hex')}/`;
}

/** A raw file's key: its path below the step's `path`, with `.`/`..`/empty segments dropped. */
export function rawFileKey(uploadPrefix: string, relativePath: string): string {
  const clean = relativePath.split('/').filter((s) => s !== '' && s !== '.' && s !== '..');
  return `${uploadPrefix}files/${clean.join('/') || 'results.xml'}`;
}

export async function saveSummary(store: BlobStore, uploadPrefix: string, summary: TestResultsSummary): Promise<void> {
  await store.put(`${uploadPrefix}summary.json`, Readable.from([Buffer.from(JSON.stringify(summary))]), { metadata: { 'content-type': 'application/json' } });
}

/** The summaries stored for a job run, in step order. */
export async function readTestResults(store: BlobStore, jobRunId: string): Promise<TestResultsSummary[]> {
  const keys = (await store.list(testResultsPrefix(jobRunId))).map((i) => i.key).filter((k) => k.endsWith('/summary.json')).sort();
  const out: TestResultsSummary[] = [];
  for (const key of keys) {
    const body = await store.get(key);
    if (!body) continue;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    out.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as TestResultsSummary);
  }
  return out;
}
