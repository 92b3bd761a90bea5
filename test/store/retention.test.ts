/**
 * Retention: the periods (caches and workspaces 15 days, artifacts 30, CircleCI's defaults) and
 * their DECKHAND_*_RETENTION_DAYS variables, what counts as expired, and `deckhand store prune` /
 * `deckhand cache prune` deleting only what is past it, on the filesystem store and on S3
 * (moto_server). Saved times are set in the past, never waited for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { BlobStore } from '../../agent/store/blob-store.js';
import { CACHE_RETENTION_METADATA, cacheDays, isExpired, prune, retention, RETENTION } from '../../agent/store/retention.js';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { artifactPrefix, workspaceLayerKey } from '../../agent/store/keys.js';
import { S3BlobStore } from '../../agent/store/s3-store.js';
import { deckhand } from '../artifacts/artifacts-fixture.js';
import { createMotoBucket, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';
import { backdateFsKey, backdateS3Object, daysAgo } from './backdate.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-cache-retention-'));
let moto: MotoServer;
const BUCKET = 'retention';
const s3Env = (): NodeJS.ProcessEnv => motoStoreEnv(moto.endpoint);

before(async () => {
  moto = await startMoto();
  await createMotoBucket(moto.endpoint, BUCKET);
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await moto?.stop();
});

test('caches and workspaces count 15 days, artifacts 30; each variable changes its own; a bad value names itself', () => {
  assert.deepEqual([RETENTION.caches.defaultDays, RETENTION.workspaces.defaultDays, RETENTION.artifacts.defaultDays], [15, 15, 30]);
  assert.deepEqual(retention('caches', {}), { days: 15 });
  assert.deepEqual(retention('caches', { DECKHAND_CACHE_RETENTION_DAYS: ' 3 ' }), { days: 3 });
  assert.deepEqual(retention('workspaces', { DECKHAND_CACHE_RETENTION_DAYS: '3', DECKHAND_WORKSPACE_RETENTION_DAYS: '4' }), { days: 4 });
  assert.deepEqual(retention('artifacts', { DECKHAND_CACHE_RETENTION_DAYS: '3' }), { days: 30 });
  assert.deepEqual(retention('artifacts', { DECKHAND_ARTIFACT_RETENTION_DAYS: '90' }), { days: 90 });
  for (const bad of ['0', '-2', '1.5', 'two', '1e400']) {
    assert.deepEqual(retention('caches', { DECKHAND_CACHE_RETENTION_DAYS: bad }), { days: 15, problem: `DECKHAND_CACHE_RETENTION_DAYS=${JSON.stringify(bad)} is not a whole number of days of at least 1` });
  }
  assert.deepEqual(retention('artifacts', { DECKHAND_ARTIFACT_RETENTION_DAYS: 'x' }), { days: 30, problem: 'DECKHAND_ARTIFACT_RETENTION_DAYS="x" is not a whole number of days of at least 1' });
  const now = Date.parse('2026-11-22T12:00:00Z');
  assert.equal(isExpired({ modified: new Date('2026-11-07T12:00:00Z') }, 15, now), false);
  assert.equal(isExpired({ modified: new Date('2026-11-07T11:59:59Z') }, 15, now), true);
});

/** Three caches of two projects, one 20 days old, one 10, one new; and an old non-cache blob. */
async function fill(store: BlobStore, backdate: (key: string, saved: Date) => Promise<void>): Promise<void> {
  for (const k of ['caches/p1/v1-old', 'caches/p1/v1-mid', 'caches/p2/v1-new', 'artifacts/run/old.txt']) await store.put(k, Readable.from([Buffer.from(k)]));
  await backdate('caches/p1/v1-old', daysAgo(20));
  await backdate('caches/p1/v1-mid', daysAgo(10));
  await backdate('artifacts/run/old.txt', daysAgo(40));
}

const keys = async (store: BlobStore): Promise<string[]> => (await store.list('')).map((b) => b.key).sort();

describe('prune of caches deletes only caches past the retention', () => {
  test('filesystem store', async () => {
    const root = join(dir, 'fs');
    const store = new FsBlobStore(root);
    await fill(store, async (key, saved) => backdateFsKey(store, key, saved));
    assert.deepEqual(await prune(store, 'caches', 15), { count: 1, bytes: 'caches/p1/v1-old'.length, ownRetention: 0 });
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p1/v1-mid', 'caches/p2/v1-new']);
    assert.deepEqual(await prune(store, 'caches', 5), { count: 1, bytes: 'caches/p1/v1-mid'.length, ownRetention: 0 });
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p2/v1-new']);
  });

  test('S3 store', async () => {
    const store = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: 'unit/' }, s3Env());
    await fill(store, (key, saved) => backdateS3Object(moto.endpoint, BUCKET, `unit/${key}`, saved));
    assert.ok(isExpired((await store.stat('caches/p1/v1-old'))!, 15));
    assert.deepEqual(await prune(store, 'caches', 15), { count: 1, bytes: 'caches/p1/v1-old'.length, ownRetention: 0 });
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p1/v1-mid', 'caches/p2/v1-new']);
  });
});

describe('deckhand cache prune', () => {
  test('default store under DECKHAND_HOME; says what it deleted, then that nothing is left to delete', async () => {
    const home = join(dir, 'home');
    const root = join(home, 'store');
    const store = new FsBlobStore(root);
    await fill(store, async (key, saved) => backdateFsKey(store, key, saved));
    let r = deckhand(['cache', 'prune'], { DECKHAND_HOME: home });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.toString(), `Deleted 1 cache (16 B) saved more than 15 days ago from ${root}\n`);
    r = deckhand(['cache', 'prune'], { DECKHAND_HOME: home });
    assert.equal(r.out.toString(), `No caches in ${root} past the retention of 15 days\n`);
    r = deckhand(['cache', 'prune'], { DECKHAND_HOME: home, DECKHAND_CACHE_RETENTION_DAYS: '7' });
    assert.equal(r.out.toString(), `Deleted 1 cache (16 B) saved more than 7 days ago from ${root}\n`);
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p2/v1-new']);
  });

  test('--store s3://bucket/prefix', async () => {
    const store = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: 'cli/' }, s3Env());
    await fill(store, (key, saved) => backdateS3Object(moto.endpoint, BUCKET, `cli/${key}`, saved));
    const r = deckhand(['cache', 'prune', '--store', `s3://${BUCKET}/cli`], s3Env());
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.toString(), `Deleted 1 cache (16 B) saved more than 15 days ago from s3://${BUCKET}/cli/\n`);
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p1/v1-mid', 'caches/p2/v1-new']);
  });

  test('a bad DECKHAND_CACHE_RETENTION_DAYS is one line and exit 2, deleting nothing', () => {
    const r = deckhand(['cache', 'prune', '--store', join(dir, 'untouched')], { DECKHAND_CACHE_RETENTION_DAYS: 'soon' });
    assert.equal(r.code, 2);
    assert.equal(r.err, 'deckhand: DECKHAND_CACHE_RETENTION_DAYS="soon" is not a whole number of days of at least 1 (unset it for the default, 15)\n');
    assert.equal(r.out.length, 0);
  });
});

/** Workspace layers of three workflow runs and artifacts of two job runs, of various ages (days), and one old cache. */
const RUNS: [string, number][] = [
  [workspaceLayerKey('wf-old', 'job-a', 1), 20],
  [workspaceLayerKey('wf-old', 'job-b', 1), 16],
  [workspaceLayerKey('wf-mixed', 'job-a', 1), 20],
  [workspaceLayerKey('wf-mixed', 'job-b', 1), 3],
  [workspaceLayerKey('wf-new', 'job-a', 1), 0],
  [`${artifactPrefix('run-old')}report/index.html`, 40],
  [`${artifactPrefix('run-old')}a.txt`, 31],
  [`${artifactPrefix('run-mid')}a.txt`, 20],
  ['caches/p1/v1-old', 20],
];
const bytesOf = (...keys: string[]): number => keys.reduce((n, k) => n + k.length, 0);

async function fillRuns(store: BlobStore, backdate: (key: string, saved: Date) => Promise<void>): Promise<void> {
  for (const [key] of RUNS) await store.put(key, Readable.from([Buffer.from(key)]));
  for (const [key, days] of RUNS) if (days > 0) await backdate(key, daysAgo(days));
}

describe('a workspace expires as one workflow run, artifacts as one job run, from their newest blob', () => {
  test('filesystem store', async () => {
    const root = join(dir, 'fs-runs');
    const store = new FsBlobStore(root);
    await fillRuns(store, async (key, saved) => backdateFsKey(store, key, saved));
    // wf-mixed has a layer of 20 days, but its newest is 3 days old: it stays whole
    assert.deepEqual(await prune(store, 'workspaces', 15), { count: 1, bytes: bytesOf(RUNS[0][0], RUNS[1][0]), ownRetention: 0 });
    assert.deepEqual((await keys(store)).filter((k) => k.startsWith('workspaces/')), [RUNS[2][0], RUNS[3][0], RUNS[4][0]].sort());
    assert.deepEqual(await prune(store, 'artifacts', 30), { count: 1, bytes: bytesOf(RUNS[5][0], RUNS[6][0]), ownRetention: 0 });
    assert.deepEqual(await prune(store, 'artifacts', 15), { count: 1, bytes: bytesOf(RUNS[7][0]), ownRetention: 0 });
    assert.deepEqual(await keys(store), ['caches/p1/v1-old', RUNS[2][0], RUNS[3][0], RUNS[4][0]].sort());
  });

  test('S3 store', async () => {
    const store = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: 'runs/' }, s3Env());
    await fillRuns(store, (key, saved) => backdateS3Object(moto.endpoint, BUCKET, `runs/${key}`, saved));
    assert.deepEqual(await prune(store, 'workspaces', 15), { count: 1, bytes: bytesOf(RUNS[0][0], RUNS[1][0]), ownRetention: 0 });
    assert.deepEqual(await prune(store, 'artifacts', 30), { count: 1, bytes: bytesOf(RUNS[5][0], RUNS[6][0]), ownRetention: 0 });
    assert.deepEqual(await keys(store), ['caches/p1/v1-old', RUNS[2][0], RUNS[3][0], RUNS[4][0], RUNS[7][0]].sort());
  });
});

describe('deckhand store prune', () => {
  test('one line per kind: what it deleted, then that nothing is left to delete', async () => {
    const home = join(dir, 'store-home');
    const root = join(home, 'store');
    const store = new FsBlobStore(root);
    await fillRuns(store, async (key, saved) => backdateFsKey(store, key, saved));
    let r = deckhand(['store', 'prune'], { DECKHAND_HOME: home });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.toString(), [
      `Deleted 1 cache (16 B) saved more than 15 days ago from ${root}`,
      `Deleted 1 workflow run's workspace (${bytesOf(RUNS[0][0], RUNS[1][0])} B) saved more than 15 days ago from ${root}`,
      `Deleted 1 job run's artifacts (${bytesOf(RUNS[5][0], RUNS[6][0])} B) saved more than 30 days ago from ${root}`,
      '',
    ].join('\n'));
    r = deckhand(['store', 'prune'], { DECKHAND_HOME: home, DECKHAND_ARTIFACT_RETENTION_DAYS: '40' });
    assert.equal(r.out.toString(), [
      `No caches in ${root} past the retention of 15 days`,
      `No workflow runs' workspaces in ${root} past the retention of 15 days`,
      `No job runs' artifacts in ${root} past the retention of 40 days`,
      '',
    ].join('\n'));
    r = deckhand(['store', 'prune'], { DECKHAND_HOME: home, DECKHAND_WORKSPACE_RETENTION_DAYS: '2', DECKHAND_ARTIFACT_RETENTION_DAYS: '10' });
    // wf-mixed's newest layer is 3 days old; wf-new's is new
    assert.match(r.out.toString(), /^Deleted 1 workflow run's workspace \(\d+ B\) saved more than 2 days ago from /m);
    assert.match(r.out.toString(), /^Deleted 1 job run's artifacts \(\d+ B\) saved more than 10 days ago from /m);
    assert.deepEqual(await keys(store), [RUNS[4][0]]);
  });

  test('--store s3://bucket/prefix', async () => {
    const store = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: 'cli-runs/' }, s3Env());
    await fillRuns(store, (key, saved) => backdateS3Object(moto.endpoint, BUCKET, `cli-runs/${key}`, saved));
    const r = deckhand(['store', 'prune', '--store', `s3://${BUCKET}/cli-runs`], s3Env());
    assert.equal(r.code, 0, r.err);
    assert.match(r.out.toString(), new RegExp(`^Deleted 1 workflow run's workspace \\(\\d+ B\\) saved more than 15 days ago from s3://${BUCKET}/cli-runs/$`, 'm'));
    assert.deepEqual(await keys(store), [RUNS[2][0], RUNS[3][0], RUNS[4][0], RUNS[7][0]].sort());
  });

  test('a bad period is one line and exit 2, deleting nothing of any kind', async () => {
    const root = join(dir, 'untouched-runs');
    const store = new FsBlobStore(root);
    await fillRuns(store, async (key, saved) => backdateFsKey(store, key, saved));
    const r = deckhand(['store', 'prune', '--store', root], { DECKHAND_ARTIFACT_RETENTION_DAYS: 'a month' });
    assert.equal(r.code, 2);
    assert.equal(r.err, 'deckhand: DECKHAND_ARTIFACT_RETENTION_DAYS="a month" is not a whole number of days of at least 1 (unset it for the default, 30)\n');
    assert.equal(r.out.length, 0);
    assert.equal((await keys(store)).length, RUNS.length);
  });
});

test("a cache whose job set retention: {caches: Nd} goes by N days, not the store's period", async () => {
  const root = join(dir, 'fs-own');
  const store = new FsBlobStore(root);
  const put = (key: string, days?: string): Promise<boolean> =>
    store.put(key, Readable.from([Buffer.from(key)]), days ? { metadata: { [CACHE_RETENTION_METADATA]: days } } : {});
  await put('caches/p/short', '3');
  await put('caches/p/long', '30');
  await put('caches/p/plain');
  await put('caches/p/odd', 'soon');
  for (const key of ['caches/p/short', 'caches/p/long', 'caches/p/plain', 'caches/p/odd']) backdateFsKey(store, key, daysAgo(20));
  assert.equal(cacheDays((await store.stat('caches/p/short'))!, 15), 3);
  assert.equal(cacheDays((await store.stat('caches/p/odd'))!, 15), 15);
  // short: 20 > 3; plain and odd: 20 > 15; long: 20 < 30
  assert.deepEqual(await prune(store, 'caches', 15), { count: 3, bytes: bytesOf('caches/p/short', 'caches/p/plain', 'caches/p/odd'), ownRetention: 1 });
  assert.deepEqual(await keys(store), ['caches/p/long']);
});
