/**
 * Copies over SSH as a real VM has them: logged in as `circleci`, tar runs as root through sudo,
 * so owners come from the archive and root's folders can be written, as with the Docker engine.
 * The job tools land in /opt/circleci/bin, a root-only file can be copied out, and a broken or
 * cancelled copy, or a login without sudo, fails with one line that says so.
 */
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import tar from 'tar-stream';
import { ExecutorError } from '../../../agent/executor/executor.js';
import { MachineExecutor } from '../../../agent/executor/machine/machine-executor.js';
import { JOB_TOOLS_DIR, jobToolsTar } from '../../../agent/job-tools/install.js';
import { startSshd, type SshdContainer } from '../../support/sshd-container.js';
import { collect, readAll } from '../docker/engine-fixture.js';

function tarOf(entries: { name: string; body: string; uid: number; gid: number; mode: number }[]): Readable {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, uid: e.uid, gid: e.gid, mode: e.mode, size: Buffer.byteLength(e.body), type: 'file' }, e.body);
  pack.finalize();
  return Readable.from(pack, { objectMode: false });
}

async function failsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ExecutorError, String(error));
    assert.doesNotMatch(error.message, /\n/);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('MachineExecutor: copies', () => {
  let vm: SshdContainer;
  let executor: MachineExecutor;
  before(async () => {
    vm = await startSshd('copy');
    executor = new MachineExecutor({ access: vm.access(), release: async () => undefined });
    await executor.prepare();
  });
  after(async () => {
    await executor?.teardown();
    await vm?.remove();
  });

  test("copyIn keeps the archive's owners and modes, also in folders only root may write", async () => {
    await executor.copyIn(
      '/opt/deckhand-copy',
      tarOf([
        { name: 'mine.txt', body: 'circleci\n', uid: 1001, gid: 1001, mode: 0o640 },
        { name: 'roots.txt', body: 'root\n', uid: 0, gid: 0, mode: 0o600 },
      ]),
    );
    const seen = await collect(executor.exec({ command: ['stat', '-c', '%n %U:%G %a', '/opt/deckhand-copy/mine.txt', '/opt/deckhand-copy/roots.txt'] }));
    assert.equal(seen.stdout, '/opt/deckhand-copy/mine.txt circleci:circleci 640\n/opt/deckhand-copy/roots.txt root:root 600\n');
    // root's file comes back out: tar reads as root
    const out = await readAll(await executor.copyOut('/opt/deckhand-copy/roots.txt'));
    assert.ok(out.includes(Buffer.from('root\n')));
  });

  test('the job tools go to /opt/circleci/bin, as the runner copies them when the probe could not', async () => {
    await executor.copyIn('/', jobToolsTar());
    const r = await collect(executor.exec({ command: ['sh', '-c', `cd ${JOB_TOOLS_DIR} && stat -c '%U %a' circleci-agent && readlink circleci`] }));
    assert.equal(r.stdout, 'root 755\ncircleci-agent\n', r.stderr);
  });

  test('a source that breaks off fails the copy, saying so', async () => {
    const source = new PassThrough();
    source.write(Buffer.alloc(512, 1));
    setTimeout(() => source.destroy(new Error('the store went away')), 50);
    await failsWith(executor.copyIn('/tmp/broken', source), /^cannot copy into \/tmp\/broken of VM .*: the archive could not be read: the store went away$/);
  });

  test('a cancelled copy fails as cancelled, and leaves no tar running', async () => {
    const source = new PassThrough();
    source.write(Buffer.alloc(512, 0));
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    await failsWith(executor.copyIn('/tmp/cancelled', source, stop.signal), /: cancelled$/);
    const deadline = Date.now() + 2_000;
    let left = await vm.processes();
    while (left.some((line) => / tar /.test(line)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await vm.processes();
    }
    assert.deepEqual(left.filter((line) => / tar /.test(line)), []);
  });

  test('copyOut of a missing path says no such file or directory', async () => {
    await failsWith(executor.copyOut('/no/such/thing'), /^cannot copy \/no\/such\/thing out of VM .*: no such file or directory$/);
  });

  test('a login without passwordless sudo cannot copy as root, and is told what to do', async () => {
    const plain = new MachineExecutor({ access: vm.access('user'), release: async () => undefined });
    try {
      await plain.prepare();
      await failsWith(plain.copyIn('/tmp/as-user', tarOf([{ name: 'a', body: 'a', uid: 1000, gid: 1000, mode: 0o644 }])), /give user passwordless sudo \(NOPASSWD\) on the VM/);
    } finally {
      await plain.teardown();
    }
  });
});
