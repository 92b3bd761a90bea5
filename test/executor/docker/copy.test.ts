// Tar streams into and out of the primary container, checked with GNU tar on
// the host: contents, modes, directories and symlinks survive a round trip.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { ExecutorError } from '../../../agent/executor/executor.js';
import { BUSYBOX, collect, realEngine, uniqueJobId } from './engine-fixture.js';

/** `tar -C dir -c .` as a stream. */
function packDirectory(dir: string): Readable {
  const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return tar.stdout;
}

/** Feeds a tar stream to `tar -C dir -x`. */
async function unpackInto(dir: string, stream: Readable): Promise<void> {
  const tar = spawn('tar', ['-C', dir, '-x'], { stdio: ['pipe', 'inherit', 'inherit'] });
  stream.pipe(tar.stdin);
  const code = await new Promise<number | null>((resolve) => tar.on('close', resolve));
  assert.equal(code, 0, 'host tar must accept the stream');
}

describe('copying tar streams', () => {
  let executor: DockerExecutor;
  let scratch: string;
  before(async () => {
    const docker = await realEngine();
    scratch = await mkdtemp(path.join(tmpdir(), 'deckhand-copy-'));
    executor = new DockerExecutor({ docker, jobId: uniqueJobId('copy'), containers: [{ image: BUSYBOX }] });
    await executor.prepare();
  });
  after(async () => {
    await executor?.teardown();
    await rm(scratch, { recursive: true, force: true });
  });

  it('round-trips files, modes, directories and symlinks', async () => {
    const source = path.join(scratch, 'source');
    await mkdir(path.join(source, 'nested/deeper'), { recursive: true });
    await writeFile(path.join(source, 'hello.txt'), 'hello, container\n');
    await writeFile(path.join(source, 'nested/deeper/binary.bin'), Buffer.from([0, 1, 2, 255, 254, 10, 13]));
    await writeFile(path.join(source, 'run.sh'), '#!/bin/sh\necho ran\n');
    await chmod(path.join(source, 'run.sh'), 0o755);
    await symlink('hello.txt', path.join(source, 'link'));

    // The destination does not exist yet: copyIn creates it.
    await executor.copyIn('/work/data', packDirectory(source));
    const inside = await collect(executor.exec({ command: ['/bin/sh', '-c', 'cat /work/data/hello.txt; /work/data/run.sh; readlink /work/data/link'] }));
    assert.deepEqual([inside.stdout, inside.exitCode], ['hello, container\nran\nhello.txt\n', 0]);

    const back = path.join(scratch, 'back');
    await mkdir(back);
    await unpackInto(back, await executor.copyOut('/work/data'));
    // Docker names the entries after the last path component.
    const data = path.join(back, 'data');
    assert.equal(await readFile(path.join(data, 'hello.txt'), 'utf8'), 'hello, container\n');
    assert.deepEqual(await readFile(path.join(data, 'nested/deeper/binary.bin')), Buffer.from([0, 1, 2, 255, 254, 10, 13]));
    assert.equal((await stat(path.join(data, 'run.sh'))).mode & 0o777, 0o755);
    assert.equal(await readlink(path.join(data, 'link')), 'hello.txt');
  });

  it('copies a single file out', async () => {
    await collect(executor.exec({ command: ['/bin/sh', '-c', 'echo made inside > /tmp/made.txt'] }));
    const back = path.join(scratch, 'single');
    await mkdir(back);
    await unpackInto(back, await executor.copyOut('/tmp/made.txt'));
    assert.equal(await readFile(path.join(back, 'made.txt'), 'utf8'), 'made inside\n');
  });

  it('names a missing path in a one-line error', async () => {
    await assert.rejects(executor.copyOut('/no/such/path'), (error: unknown) => {
      assert.ok(error instanceof ExecutorError);
      assert.equal(error.message, 'cannot copy /no/such/path out of the primary container: no such file or directory');
      return true;
    });
  });

  it('fails promptly, naming the cause, when the tar stream it is given fails', async () => {
    // A source that sends half a tar header and then breaks, as a packer
    // that hits an unreadable file does: the copy must not wait forever.
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(256, 0x61));
        this.destroy(new Error('disk read error'));
      },
    });
    const started = Date.now();
    await assert.rejects(executor.copyIn('/tmp/broken', broken), (error: unknown) => {
      assert.ok(error instanceof ExecutorError);
      assert.match(error.message, /^cannot copy into \/tmp\/broken of the primary container: the archive could not be read: disk read error$/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    // The container is still usable afterwards.
    const alive = await collect(executor.exec({ command: ['/bin/sh', '-c', 'echo still here'] }));
    assert.equal(alive.stdout, 'still here\n');
  });
});
