/**
 * Whole workflows on an S3 store (`deckhand run --store s3://bucket/prefix` against moto_server on
 * loopback), with the real CLI and Docker: a fan-out/fan-in passing workspaces through S3, a cache
 * saved in one run and restored in the next, and artifacts stored by a job, listed at the end of
 * the run and served from S3 by `deckhand artifacts serve`.
 */
import assert from 'node:assert/strict';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { get, serve } from '../artifacts/artifacts-fixture.js';
import { BUSYBOX, deckhandBin, project } from '../support/execute.js';
import { createMotoBucket, motoS3Client, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';

const BUCKET = 'deckhand-workflows';
const STORE = `s3://${BUCKET}/team/ci`;
let moto: MotoServer;
const dirs: string[] = [];

before(async () => {
  moto = await startMoto();
  await createMotoBucket(moto.endpoint, BUCKET);
});
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await moto?.stop();
});

// the AWS SDK's own endpoint variable, as a user of another S3-compatible store would set it
const s3Env = (): NodeJS.ProcessEnv => motoStoreEnv(moto.endpoint, 'AWS_ENDPOINT_URL_S3');

const job = (steps: string[]): string => `    docker: [{image: ${BUSYBOX}}]\n    resource_class: small\n    steps:\n${steps.map((s) => `      - ${s}`).join('\n')}\n`;

const CONFIG = [
  'version: 2.1',
  'jobs:',
  '  a:',
  job([
    'restore_cache: {keys: [s3-cache-]}',
    'run: if [ -f c/v ]; then echo "restored $(cat c/v)"; else echo no-cache-yet; fi',
    'run: mkdir -p ws c && echo from-a > ws/a.txt && echo a > ws/shared.txt && echo "saved-in-run-$RUN" > c/v',
    'persist_to_workspace: {root: ws, paths: [a.txt, shared.txt]}',
    'save_cache: {key: "s3-cache-{{ .Environment.RUN }}", paths: [c]}',
  ]),
  '  b:',
  job(['attach_workspace: {at: ws}', 'run: echo b-sees $(cat ws/a.txt) && echo from-b > ws/b.txt && echo b > ws/shared.txt', 'persist_to_workspace: {root: ws, paths: [b.txt, shared.txt]}']),
  '  c:',
  job([
    'attach_workspace: {at: ws}',
    'run: test ! -e ws/b.txt && echo from-c > ws/c.txt && mkdir -p out && head -c 300000 /dev/urandom > out/blob.bin && md5sum out/blob.bin | cut -c1-32 > out/blob.md5',
    'persist_to_workspace: {root: ws, paths: [c.txt]}',
    'store_artifacts: {path: out, destination: report}',
  ]),
  '  d:',
  job(['attach_workspace: {at: /tmp/w}', 'run: echo fan-in $(cat /tmp/w/a.txt /tmp/w/b.txt /tmp/w/c.txt) shared=$(cat /tmp/w/shared.txt)']),
  'workflows:',
  '  main:',
  '    jobs:',
  '      - a',
  '      - b: {requires: [a]}',
  '      - c: {requires: [a]}',
  '      - d: {requires: [b, c]}',
  '',
].join('\n');

function run(dir: string, runNumber: number): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [deckhandBin, 'run', '--no-color', '--max-parallel', '2', '--log-dir', join(dir, `logs-${runNumber}`), '--store', STORE, '-e', `RUN=${runNumber}`], {
    cwd: dir,
    encoding: 'utf8',
    // no local store may stand in for S3: DECKHAND_HOME's store must stay empty
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), ...s3Env() },
    timeout: 240_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a workflow on S3: workspaces fan out and in, a cache crosses runs, artifacts are listed at the end and served from S3', async () => {
  const dir = project(CONFIG);
  dirs.push(dir);

  const first = run(dir, 1);
  assert.equal(first.code, 0, first.out + first.err);
  assert.match(first.out, /^\[a\]\s+no-cache-yet$/m);
  assert.match(first.out, /^\[a\]\s+Uploading cache archive to s3:\/\/deckhand-workflows\/team\/ci\/\.\.\.$/m);
  assert.match(first.out, /^\[b\]\s+b-sees from-a$/m);
  assert.match(first.out, /^\[d\]\s+fan-in from-a from-b from-c shared=b$/m);
  assert.match(first.out, /Workflow main: 4 success/);

  const second = run(dir, 2);
  assert.equal(second.code, 0, second.out + second.err);
  assert.match(second.out, /^\[a\]\s+Found a cache from build \d+ at s3-cache-1$/m);
  assert.match(second.out, /^\[a\]\s+restored saved-in-run-1$/m, 'the cache saved by run 1 is restored by run 2');
  assert.match(second.out, /^\[d\]\s+fan-in from-a from-b from-c shared=b$/m);

  // everything went to S3, nothing to the local default store
  const client = motoS3Client(moto.endpoint);
  const keys = ((await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'team/ci/' }))).Contents ?? []).map((o) => o.Key ?? '');
  client.destroy();
  assert.equal(keys.filter((k) => k.startsWith('team/ci/caches/')).length, 2, keys.join('\n'));
  // two runs × (a layer and its manifest) of a, b and c
  assert.equal(keys.filter((k) => k.startsWith('team/ci/workspaces/') && !k.endsWith('.layers')).length, 6, keys.join('\n'));
  assert.equal(keys.filter((k) => k.startsWith('team/ci/workspaces/') && k.endsWith('.layers')).length, 6, keys.join('\n'));
  assert.equal(keys.filter((k) => k.startsWith('team/ci/artifacts/')).length, 4, keys.join('\n'));
  assert.equal(spawnSync('find', [join(dir, '.home', 'store'), '-name', 'data']).stdout?.toString() ?? '', '');

  // the run's artifacts, listed under its summary with the command that finds them
  const listed = new RegExp(`^Artifacts \\(in ${STORE.replace(/[/.]/g, '\\$&')}/\\):\\n {2}c {2}2 files, [\\d.]+ KiB: deckhand artifacts list (\\S+) --store ${STORE.replace(/[/.]/g, '\\$&')}/\\nServe them: deckhand artifacts serve --store ${STORE.replace(/[/.]/g, '\\$&')}/, then open http://127\\.0\\.0\\.1:8081/artifacts/\\n$`, 'm').exec(second.out);
  assert.ok(listed, second.out);
  const jobRunId = listed[1];
  assert.ok(keys.includes(`team/ci/artifacts/${jobRunId}/report/blob.bin`), keys.join('\n'));

  const s = await serve(`${STORE}/`, s3Env());
  try {
    const md5 = (await get(s.origin, `/artifacts/${jobRunId}/report/blob.md5`)).body.toString().trim();
    const blob = await get(s.origin, `/artifacts/${jobRunId}/report/blob.bin`);
    assert.equal(blob.status, 200);
    assert.equal(blob.body.length, 300000);
    const { createHash } = await import('node:crypto');
    assert.equal(createHash('md5').update(blob.body).digest('hex'), md5, 'the bytes the job wrote in its container');
    const tail = await get(s.origin, `/artifacts/${jobRunId}/report/blob.bin`, { range: 'bytes=-1000' });
    assert.equal(tail.status, 206);
    assert.ok(tail.body.equals(blob.body.subarray(300000 - 1000)));
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});
