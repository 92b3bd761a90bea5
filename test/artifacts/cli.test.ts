/**
 * `deckhand artifacts list|get` (and `serve` on S3) run as the real CLI, on artifacts put into a
 * real filesystem store and into S3 on moto_server: listings, exact bytes, and one-line errors
 * with exit 2 for every bad input.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { S3BlobStore } from '../../agent/store/s3-store.js';
import { createMotoBucket, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';
import { deckhand, get, putArtifacts, serve } from './artifacts-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-artifacts-cli-'));
const storeDir = join(dir, 'store');
const BINARY = randomBytes(1024 * 1024 + 3);
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts a failed run printed exactly one line naming `what`, and exited 2. */
function assertUsageError(r: { code: number | null; err: string }, what: RegExp): void {
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, what);
  assert.equal(r.err.trim().split('\n').length, 1, r.err);
  assert.doesNotMatch(r.err, /\n\s+at /);
}

describe('artifacts list and get on a folder store', () => {
  before(async () => {
    const store = new FsBlobStore(storeDir);
    await putArtifacts(store, 'run-old', { 'a.txt': 'old\n' });
    await new Promise((r) => setTimeout(r, 20));
    await putArtifacts(store, 'run-new', { 'bin/data.bin': BINARY, 'report/index.html': '<h1>x</h1>\n' });
    await store.put('caches/p/k', (await import('node:stream')).Readable.from([Buffer.from('not an artifact')]));
  });

  test('without an id: the job runs with artifacts, newest first', () => {
    const r = deckhand(['artifacts', 'list', '--store', storeDir]);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.toString().trim().split('\n');
    assert.match(lines[0], /^JOB RUN ID\s+ARTIFACTS\s+SIZE\s+STORED$/);
    assert.match(lines[1], /^run-new\s+2\s+1\.0 MiB\s+\d{4}-/);
    assert.match(lines[2], /^run-old\s+1\s+4 B\s+\d{4}-/);
    assert.equal(lines.length, 3);
    const json = JSON.parse(deckhand(['artifacts', 'list', '--store', storeDir, '--json']).out.toString()) as { jobRunId: string; artifacts: number; bytes: number }[];
    assert.deepEqual(json.map((j) => [j.jobRunId, j.artifacts, j.bytes]), [['run-new', 2, BINARY.length + 11], ['run-old', 1, 4]]);
  });

  test('with an id: its artifacts by path; the default store is $DECKHAND_HOME/store', () => {
    const r = deckhand(['artifacts', 'list', 'run-new'], { DECKHAND_HOME: dir });
    assert.equal(r.code, 0, r.err);
    const rows = r.out.toString().trim().split('\n').map((l) => l.split(/\s{2,}/));
    assert.deepEqual(rows.map((c) => c.slice(0, 2)), [['PATH', 'SIZE'], ['bin/data.bin', '1.0 MiB'], ['report/index.html', '11 B']]);
  });

  test('get: the exact bytes, to a file or to standard output', () => {
    const out = join(dir, 'got.bin');
    let r = deckhand(['artifacts', 'get', '--store', storeDir, 'run-new', 'bin/data.bin', '-o', out]);
    assert.equal(r.code, 0, r.err);
    assert.ok(readFileSync(out).equals(BINARY));
    assert.ok(!existsSync(`${out}.deckhand-partial`));
    r = deckhand(['artifacts', 'get', '--store', storeDir, 'run-new', 'bin/data.bin']);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.equals(BINARY));
  });

  test('bad input: one line, exit 2', () => {
    assertUsageError(deckhand(['artifacts', 'list', '--store', storeDir, 'run-nope']), /^deckhand: job run run-nope has no artifacts in .*store; `deckhand artifacts list` lists/);
    assertUsageError(deckhand(['artifacts', 'list', '--store', storeDir, '../etc']), /job run id "\.\.\/etc" is not valid/);
    assertUsageError(deckhand(['artifacts', 'get', '--store', storeDir, 'run-new', 'nope.txt']), /job run run-new has no artifact nope\.txt/);
    assertUsageError(deckhand(['artifacts', 'get', '--store', storeDir, 'run-nope', 'a.txt']), /job run run-nope has no artifacts/);
    assertUsageError(deckhand(['artifacts', 'get', '--store', storeDir, 'run-new', '../run-old/a.txt']), /artifact path "\.\.\/run-old\/a\.txt" is not valid/);
    assertUsageError(deckhand(['artifacts', 'get', '--store', storeDir, 'run-new', 'bin/data.bin', '-o', join(dir, 'no/such/dir/f')]), /-o .*f: cannot write there \(ENOENT\)/);
    assertUsageError(deckhand(['artifacts', 'list', '--store', 'ftp://x/y']), /--store ftp:\/\/x\/y: unsupported scheme/);
    assertUsageError(deckhand(['artifacts', 'serve', '--store', storeDir, '--listen', 'nowhere']), /--listen nowhere: expected HOST:PORT/);
    const unknownFlag = deckhand(['artifacts', 'list', '--stroe', storeDir]);
    assert.equal(unknownFlag.code, 2);
    assert.match(unknownFlag.err, /unknown option '--stroe'/);
    const missingArg = deckhand(['artifacts', 'get', 'run-new']);
    assert.equal(missingArg.code, 2);
    assert.match(missingArg.err, /missing required argument 'path'/);
  });

  test('an empty store lists nothing and says so', () => {
    const r = deckhand(['artifacts', 'list', '--store', join(dir, 'empty')]);
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 0);
    assert.match(r.err, /^no artifacts in .*empty\n$/);
  });
});

describe('artifacts on an S3 store (moto_server)', () => {
  let moto: MotoServer;
  let env: NodeJS.ProcessEnv;
  const BUCKET = 'deckhand-artifacts';
  const spec = `s3://${BUCKET}/ci`;

  before(async () => {
    moto = await startMoto();
    env = motoStoreEnv(moto.endpoint);
    await createMotoBucket(moto.endpoint, BUCKET);
    const store = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: 'ci/' }, env);
    await putArtifacts(store, 'run-s3', { 'out/data.bin': BINARY, 'out/page.html': '<script>x()</script>', 'shot.png': BINARY.subarray(0, 100) });
  });
  after(async () => moto?.stop());

  test('list, get and serve read the same artifacts from S3', async () => {
    const list = deckhand(['artifacts', 'list', '--store', spec, 'run-s3'], env);
    assert.equal(list.code, 0, list.err);
    assert.deepEqual(list.out.toString().trim().split('\n').slice(1).map((l) => l.split(/\s{2,}/)[0]), ['out/data.bin', 'out/page.html', 'shot.png']);
    const got = deckhand(['artifacts', 'get', '--store', spec, 'run-s3', 'out/data.bin'], env);
    assert.equal(got.code, 0, got.err);
    assert.ok(got.out.equals(BINARY));
    assertUsageError(deckhand(['artifacts', 'get', '--store', spec, 'run-s3', 'nope'], env), /job run run-s3 has no artifact nope in s3:\/\/deckhand-artifacts\/ci\//);

    const s = await serve(spec, env);
    try {
      const bin = await get(s.origin, '/artifacts/run-s3/out/data.bin', { range: 'bytes=1000-1999' });
      assert.equal(bin.status, 206);
      assert.ok(bin.body.equals(BINARY.subarray(1000, 2000)));
      const page = await get(s.origin, '/artifacts/run-s3/out/page.html');
      assert.equal(page.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(page.body.toString(), '<script>x()</script>');
      const png = await get(s.origin, '/artifacts/run-s3/shot.png');
      assert.equal(png.headers['content-type'], 'image/png');
      assert.ok(png.body.equals(BINARY.subarray(0, 100)));
      assert.equal((await get(s.origin, '/artifacts/run-s3/%2e%2e/x')).status, 400);
    } finally {
      assert.equal((await s.stop()).code, 0);
    }
  });
});
