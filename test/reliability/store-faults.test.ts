/**
 * A store that misbehaves, end to end with the real CLI and engine: a damaged cache record is a
 * warning naming the key and a miss (the next save replaces it); a workspace layer lost from the
 * store is an infrastructure failure naming the layer; an S3 endpoint that takes the connection and
 * never answers ends with a line naming it, within the store's timeout, instead of hanging.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUSYBOX, execute, executeAsync, job, project } from '../support/execute.js';

/** Every file under `dir` whose name is `name`. */
function filesNamed(dir: string, name: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((p) => join(dir, p))
    .filter((p) => p.endsWith(`/${name}`) && statSync(p).isFile());
}

describe('a store that misbehaves', { concurrency: false, timeout: 300_000 }, () => {
  test('a damaged cache record: a warning naming the key, a miss, and the next save replaces it', () => {
    const steps = [
      '      - restore_cache:',
      '          keys: [deps-v1]',
      '      - run: if [ -f deps/file ]; then echo "restored $(cat deps/file)"; else echo nothing-restored; fi; mkdir -p deps; date +%s > deps/file',
      '      - save_cache:',
      '          key: deps-v1',
      '          paths: [deps]',
    ].join('\n');
    const dir = project(job(BUSYBOX, steps));
    const first = execute(dir, []);
    assert.equal(first.code, 0, first.out + first.err);
    const [meta] = filesNamed(join(dir, '.home', 'store', 'caches'), 'meta.json');
    assert.ok(meta, 'the cache is stored');
    writeFileSync(meta, '{"modified": "2026-12-0'); // cut short, as a full disk or a crash would leave it

    const second = execute(dir, []);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(second.out, /\nWarning: the cache record of deps-v1 in \S+ is damaged \(\S+meta\.json: not JSON \([^)]*\)\); it counts as a miss, and the next save_cache of that key replaces it\n/);
    assert.match(second.out, /\nnothing-restored\n/);
    assert.match(second.out, /\nWarning: the cache record of deps-v1 in \S+ is damaged .*; replacing the cache\n/);

    const third = execute(dir, []);
    assert.equal(third.code, 0, third.out + third.err);
    assert.match(third.out, /\nrestored \d+\n/, 'the replaced cache is found again');
  });

  test('a workspace layer lost from the store: exit 2, naming the layer', () => {
    const dir = project(
      `version: 2.1
jobs:
  build:
    docker: [{image: ${BUSYBOX}}]
    steps:
      - run: mkdir -p ws && echo one > ws/one.txt
      - persist_to_workspace: {root: ws, paths: [one.txt]}
      - run: echo two > ws/two.txt
      - persist_to_workspace: {root: ws, paths: [two.txt]}
  use:
    docker: [{image: ${BUSYBOX}}]
    steps:
      - attach_workspace: {at: got}
      - run: cat got/one.txt got/two.txt
`,
    );
    const workflow = randomUUID();
    const upstream = randomUUID();
    const built = execute(dir, ['--job', 'build', '--workflow-run-id', workflow, '--job-run-id', upstream]);
    assert.equal(built.code, 0, built.err);
    const whole = execute(dir, ['--job', 'use', '--workflow-run-id', workflow, '--upstream-job-run-id', upstream]);
    assert.equal(whole.code, 0, whole.out + whole.err);
    assert.match(whole.out, /\none\ntwo\n/);

    // the first layer goes missing from the store (a lifecycle rule, a hand that cleaned up)
    const layer = readdirSync(join(dir, '.home', 'store', 'workspaces', workflow, upstream)).sort()[0];
    rmSync(join(dir, '.home', 'store', 'workspaces', workflow, upstream, layer), { recursive: true });
    const broken = execute(dir, ['--job', 'use', '--workflow-run-id', workflow, '--upstream-job-run-id', upstream]);
    assert.equal(broken.code, 2, broken.out + broken.err);
    assert.match(broken.out, new RegExp(`\\nworkspace layer 1 of 2 of job run ${upstream} \\(workspaces/${workflow}/${upstream}/000000\\) is missing from \\S+; re-run the workflow\\n`));
    assert.doesNotMatch(broken.out, /upstream jobs persisted nothing/);
  });

  describe('an S3 endpoint that takes connections and never answers', () => {
    let server: Server;
    let port = 0;
    const sockets = new Set<Socket>();
    before(async () => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });

    test('the cache steps end with a line naming the endpoint, within the timeout; the job does not hang', async () => {
      const dir = project(job(BUSYBOX, '      - restore_cache:\n          keys: [k]\n      - run: mkdir -p c && echo x > c/f\n      - save_cache:\n          key: k\n          paths: [c]'));
      const t0 = Date.now();
      const r = await executeAsync(dir, ['--store', 's3://silent-bucket/ci'], {
        env: { DECKHAND_S3_ENDPOINT: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', DECKHAND_STORE_TIMEOUT_SECONDS: '2' },
      });
      const took = Date.now() - t0;
      assert.match(r.out, new RegExp(`the endpoint http://127\\.0\\.0\\.1:${port} did not answer within 2s \\(DECKHAND_STORE_TIMEOUT_SECONDS\\)`));
      // restore_cache counts it as a miss (a warning), save_cache fails the job with it
      assert.equal(r.code, 1, r.out + r.err);
      assert.ok(took < 60_000, `ended after ${took} ms with a 2 s store timeout`);
    });
  });
});
