/**
 * Cache retention: the period from DECKHAND_CACHE_RETENTION_DAYS (default 15, CircleCI's), what
 * counts as expired, and `deckhand cache prune` deleting only the caches past it, on the
 * filesystem store and on S3 (moto_server). Saved times are set in the past, never waited for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { BlobStore } from '../../agent/store/blob-store.js';
import { cacheRetention, DEFAULT_CACHE_RETENTION_DAYS, isExpired, pruneCaches } from '../../agent/store/cache-retention.js';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { S3BlobStore } from '../../agent/store/s3-store.js';
import { deckhand } from '../artifacts/artifacts-fixture.js';
import { createMotoBucket, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';
import { backdateFsBlob, backdateS3Object, daysAgo } from './backdate.js';

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

test('the retention is 15 days, DECKHAND_CACHE_RETENTION_DAYS changes it, and a bad value names itself', () => {
  assert.equal(DEFAULT_CACHE_RETENTION_DAYS, 15);
  assert.deepEqual(cacheRetention({}), { days: 15 });
  assert.deepEqual(cacheRetention({ DECKHAND_CACHE_RETENTION_DAYS: ' 3 ' }), { days: 3 });
  for (const bad of ['0', '-2', '1.5', 'two', '1e400']) {
    assert.deepEqual(cacheRetention({ DECKHAND_CACHE_RETENTION_DAYS: bad }), { days: 15, problem: `DECKHAND_CACHE_RETENTION_DAYS=${JSON.stringify(bad)} is not a whole number of days of at least 1` });
  }
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

describe('pruneCaches deletes only caches past the retention', () => {
  test('filesystem store', async () => {
    const root = join(dir, 'fs');
    const store = new FsBlobStore(root);
    await fill(store, async (key, saved) => backdateFsBlob(join(root, `${key.replace(/\./g, '%2E')}.blob`), saved));
    assert.deepEqual(await pruneCaches(store, 15), { count: 1, bytes: 'caches/p1/v1-old'.length });
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p1/v1-mid', 'caches/p2/v1-new']);
    assert.deepEqual(await pruneCaches(store, 5), { count: 1, bytes: 'caches/p1/v1-mid'.length });
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p2/v1-new']);
  });

  test('S3 store', async () => {
    const store = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: 'unit/' }, s3Env());
    await fill(store, (key, saved) => backdateS3Object(moto.endpoint, BUCKET, `unit/${key}`, saved));
    assert.ok(isExpired((await store.stat('caches/p1/v1-old'))!, 15));
    assert.deepEqual(await pruneCaches(store, 15), { count: 1, bytes: 'caches/p1/v1-old'.length });
    assert.deepEqual(await keys(store), ['artifacts/run/old.txt', 'caches/p1/v1-mid', 'caches/p2/v1-new']);
  });
});

describe('deckhand cache prune', () => {
  test('default store under DECKHAND_HOME; says what it deleted, then that nothing is left to delete', async () => {
    const home = join(dir, 'home');
    const root = join(home, 'store');
    await fill(new FsBlobStore(root), async (key, saved) => backdateFsBlob(join(root, `${key.replace(/\./g, '%2E')}.blob`), saved));
    let r = deckhand(['cache', 'prune'], { DECKHAND_HOME: home });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.toString(), `Deleted 1 cache (16 B) saved more than 15 days ago from ${root}\n`);
    r = deckhand(['cache', 'prune'], { DECKHAND_HOME: home });
    assert.equal(r.out.toString(), `No cache in ${root} is older than 15 days\n`);
    r = deckhand(['cache', 'prune'], { DECKHAND_HOME: home, DECKHAND_CACHE_RETENTION_DAYS: '7' });
    assert.equal(r.out.toString(), `Deleted 1 cache (16 B) saved more than 7 days ago from ${root}\n`);
    assert.deepEqual(await keys(new FsBlobStore(root)), ['artifacts/run/old.txt', 'caches/p2/v1-new']);
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
