/**
 * End to end: a real `deckhand execute` job in Docker stores artifacts, `deckhand artifacts list`
 * finds its job run, and `deckhand artifacts serve` returns the bytes the job wrote, as safe types.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BUSYBOX, execute, project } from '../support/execute.js';
import { deckhand, get, serve } from './artifacts-fixture.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: |
          mkdir -p out/report
          echo '<script>alert(1)</script>' > out/report/index.html
          head -c 200000 /dev/urandom > out/data.bin
          sha256sum out/data.bin | cut -d' ' -f1 > out/data.sha256
      - store_artifacts:
          path: out
          destination: build
`;

test('a job stores artifacts with store_artifacts; list shows its run and serve returns its bytes', async () => {
  const dir = project(CONFIG);
  made.push(dir);
  const r = execute(dir, ['--job', 'build']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /Uploaded 3 artifacts/);
  const env = { DECKHAND_HOME: join(dir, '.home') };
  // listed at the end of the job, after the job's own last lines, with the commands that find them
  const tail = r.out.slice(r.out.indexOf('Full log: '));
  const printed = /\nArtifacts of job run (\S+): 3 files, [\d.]+ KiB, in (.+)\n {2}build\/data\.bin +195\.3 KiB\n {2}build\/data\.sha256 +65 B\n {2}build\/report\/index\.html +26 B\nList them: deckhand artifacts list (\S+)\nServe them: deckhand artifacts serve, then open http:\/\/127\.0\.0\.1:8081\/artifacts\/(\S+)\/\n$/.exec(tail);
  assert.ok(printed, tail);
  assert.equal(printed[2], join(dir, '.home', 'store'));
  assert.equal(printed[3], printed[1]);
  assert.equal(printed[4], printed[1]);

  const runs = JSON.parse(deckhand(['artifacts', 'list', '--json'], env).out.toString()) as { jobRunId: string; artifacts: number }[];
  assert.equal(runs.length, 1);
  assert.equal(runs[0].artifacts, 3);
  const id = runs[0].jobRunId;
  assert.equal(id, printed[1]);
  const list = deckhand(['artifacts', 'list', id], env);
  assert.equal(list.code, 0, list.err);
  assert.deepEqual(list.out.toString().trim().split('\n').slice(1).map((l) => l.split(/\s{2,}/)[0]), ['build/data.bin', 'build/data.sha256', 'build/report/index.html']);

  const s = await serve(join(dir, '.home', 'store'));
  try {
    const sum = (await get(s.origin, `/artifacts/${id}/build/data.sha256`)).body.toString().trim();
    const data = await get(s.origin, `/artifacts/${id}/build/data.bin`);
    assert.equal(data.status, 200);
    assert.equal(data.body.length, 200000);
    // the digest the job computed inside its container
    assert.equal(createHash('sha256').update(data.body).digest('hex'), sum);
    assert.equal(data.headers['content-type'], 'application/octet-stream');
    const page = await get(s.origin, `/artifacts/${id}/build/report/index.html`);
    assert.equal(page.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.body.toString(), '<script>alert(1)</script>\n');
    const got = deckhand(['artifacts', 'get', id, 'build/data.bin'], env);
    assert.ok(got.out.equals(data.body));
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('a job that stores no artifact lists none; with --output json the listing goes to stderr and --store is named', async () => {
  const dir = project(CONFIG.replace('path: out', 'path: nothing-here'));
  made.push(dir);
  let r = execute(dir, ['--job', 'build']);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /No artifact files found at \/root\/project\/nothing-here/);
  assert.doesNotMatch(r.out + r.err, /Artifacts of job run|deckhand artifacts/);

  const json = project(CONFIG);
  made.push(json);
  const store = join(json, 'a store');
  r = execute(json, ['--job', 'build', '--output', 'json', '--store', store]);
  assert.equal(r.code, 0, r.out + r.err);
  for (const line of r.out.trim().split('\n')) JSON.parse(line);
  const id = /^Artifacts of job run (\S+): 3 files/m.exec(r.err)?.[1];
  assert.ok(id, r.err);
  const listLine = r.err.split('\n').find((l) => l.startsWith('List them: '));
  assert.equal(listLine, `List them: deckhand artifacts list ${id} --store '${store}'`);
  // the printed command works as printed
  const list = deckhand(['artifacts', 'list', id, '--store', store]);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out.toString(), /build\/data\.bin/);
});
