/**
 * The processor on a data directory that cannot take more: a real tmpfs filled to the last byte
 * (ENOSPC), remounted read-only (EROFS), and folders its user may not write (EACCES, with the
 * processor running as `nobody`). Each store failure is answered with its own status and the
 * errno trailer, logged once however often the agent retries, leaves no half-written bytes, and
 * `/health-check` says 503 until there is room again.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status, type StatusObject } from '@grpc/grpc-js';
import { STORE_ERROR_TRAILER } from '../../agent/output/wire/protocol.js';
import { ProcessorProcess } from '../support/processor-process.js';
import { SmallDisk } from '../support/small-disk.js';
import { get, jobEntries, keptLogger, openedStream, openFrame, sendEntries, sha256, startTestProcessor, TestStream, type TestProcessor } from './support.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function storeError(st: StatusObject): string | undefined {
  return st.metadata?.get(STORE_ERROR_TRAILER)[0]?.toString();
}

/** Polls `/health-check` until it answers `want` (the probe's answer stands for a second). */
async function health(http: string, want: number): Promise<{ status: number; body: string }> {
  const until = Date.now() + 5000;
  for (;;) {
    const r = await get(`${http}/health-check`);
    if (r.status === want || Date.now() > until) return { status: r.status, body: r.body.toString() };
    await sleep(200);
  }
}

/** Bytes of a pseudo-random pattern (so a shifted or repeated piece would not match). */
function pattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

describe('output processor: a data directory that cannot take more', () => {
  let disk: SmallDisk;
  let p: TestProcessor;
  const logger = keptLogger();
  before(async () => {
    disk = SmallDisk.mount(4);
    p = await startTestProcessor({ dataDir: disk.dir, logger });
  });
  after(async () => {
    await p?.stop();
    disk?.unmount();
  });

  it('full: health 503, stores refused with RESOURCE_EXHAUSTED and ENOSPC, logged once, nothing half-written; room again: 200 and the resend is stored and verified', async () => {
    const out = pattern(300_000);
    const entries = jobEntries([{ name: 'make', stdout: out }], 50_000);
    const s = await openedStream(p, 'job-full-disk', 'run-1');
    await sendEntries(s, entries.slice(0, 3)); // step-started + 100 000 bytes
    await s.acked(0, 'STDOUT', 100_000);
    s.end();
    await s.status;
    assert.equal((await health(p.http, 200)).status, 200);

    disk.fill();
    const sick = await health(p.http, 503);
    assert.equal(sick.status, 503);
    assert.match(sick.body, /the data directory .* cannot be written: ENOSPC \(no space left on device\) at .*\.write-probe; free space or fix its permissions/);

    // the agent retries, as agents do: every attempt is refused the same way, with the errno
    for (let attempt = 0; attempt < 5; attempt++) {
      const retry = new TestStream(p.target, p.token('job-full-disk'));
      await retry.send(openFrame('job-full-disk', 'build', 1, 'run-1'));
      assert.deepEqual((await retry.resume()).resume?.streams, [{ step: 0, stream: 'STDOUT', offset: 100_000 }]);
      await sendEntries(retry, entries.slice(3, 5));
      const st = await retry.status;
      assert.equal(st.code, status.RESOURCE_EXHAUSTED, st.details);
      assert.equal(st.details, 'the output processor cannot store job job-full-disk: its data directory is full (ENOSPC); keep the output and retry later');
      assert.equal(storeError(st), 'ENOSPC');
    }
    const failures = logger.lines.filter((l) => l.msg === 'cannot store' && l.fields.job === 'job-full-disk');
    assert.equal(failures.length, 5);
    assert.deepEqual(
      failures.map((l) => l.level),
      ['error', 'debug', 'debug', 'debug', 'debug'],
      'one error line per job, not one per retry',
    );
    assert.match(String(failures[0].fields.error), /^ENOSPC \(no space left on device\) at /);
    // a write cut short by the full disk left nothing behind it: the file is what was acknowledged
    const dir = join(disk.dir, 'jobs', 'job-full-disk');
    assert.equal(statSync(join(dir, 'streams', '0.stdout')).size, 100_000);
    assert.equal(statSync(join(dir, 'journal')).size % 24, 0);

    disk.free();
    assert.equal((await health(p.http, 200)).status, 200);
    const back = new TestStream(p.target, p.token('job-full-disk'));
    await back.send(openFrame('job-full-disk', 'build', 1, 'run-1'));
    assert.deepEqual((await back.resume()).resume?.streams, [{ step: 0, stream: 'STDOUT', offset: 100_000 }]);
    await sendEntries(back, entries.slice(3));
    assert.deepEqual((await back.complete()).complete, { verified: true, message: '' });
    back.end();
    const stored = (await get(`${p.http}/api/jobs/job-full-disk/steps/0/output`)).body;
    assert.equal(sha256(stored).toString('hex'), sha256(out).toString('hex'));
    assert.ok(logger.lines.some((l) => l.msg === 'storing again' && l.fields.job === 'job-full-disk'));
  });

  it('full from the start: the job is known, given up, shown incomplete, and its record saved once there is room', async () => {
    disk.fill();
    const s = await openedStream(p, 'job-born-full', 'run-1');
    await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: pattern(65_536) } }] } });
    const st = await s.status;
    assert.equal(st.code, status.RESOURCE_EXHAUSTED);

    const g = new TestStream(p.target, p.token('job-born-full'));
    await g.send(openFrame('job-born-full', 'build', 1, 'run-1'));
    await g.send({ giveUp: { reason: '64.0 KiB of 64.0 KiB not delivered; last error: RESOURCE_EXHAUSTED', jobStatus: 'success' } });
    g.end();
    assert.equal((await g.complete()).complete?.verified, false);
    const shown = JSON.parse((await get(`${p.http}/api/jobs/job-born-full`)).body.toString()) as { status: string; finished: { abandoned: string; message: string } };
    assert.equal(shown.status, 'incomplete');
    assert.equal(shown.finished.abandoned, 'agent');
    const metaFile = join(disk.dir, 'jobs', 'job-born-full', 'meta.json');
    assert.equal(existsSync(metaFile), false, 'the disk is full: the record is held in memory');

    disk.free();
    const until = Date.now() + 10_000;
    while (!existsSync(metaFile) && Date.now() < until) await sleep(200);
    const saved = JSON.parse(readFileSync(metaFile, 'utf8')) as { status: string; finished: { message: string } };
    assert.equal(saved.status, 'incomplete');
    assert.match(saved.finished.message, /^the agent gave up delivering: 64\.0 KiB/);
    assert.ok(logger.lines.some((l) => l.msg === 'job record saved'));
  });

  it('read-only: health 503 and stores refused with UNAVAILABLE and EROFS; writable again: 200', async () => {
    disk.remount('ro');
    try {
      const sick = await health(p.http, 503);
      assert.equal(sick.status, 503);
      assert.match(sick.body, /EROFS \(read-only file system\)/);
      const s = new TestStream(p.target, p.token('job-read-only'));
      await s.send(openFrame('job-read-only', 'build', 1, 'run-1'));
      const st = await s.status;
      assert.equal(st.code, status.UNAVAILABLE, st.details);
      assert.match(st.details, /cannot store job job-read-only: it may not write its data directory \(EROFS\)/);
      assert.equal(storeError(st), 'EROFS');
    } finally {
      disk.remount('rw');
    }
    assert.equal((await health(p.http, 200)).status, 200);
  });
});

describe('output processor run as an unprivileged user: folders it may not write', () => {
  let processor: ProcessorProcess;
  let data: string;
  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'deckhand-processor-nobody-'));
    chownSync(data, 65534, 65534);
    processor = await ProcessorProcess.start({ data, user: { uid: 65534, gid: 65534 } });
  });
  after(async () => {
    await processor?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  it('answers EACCES with UNAVAILABLE and the trailer, logs it once, and health says 503 while the jobs folder is not writable', async () => {
    const s = new TestStream(processor.target, processor.token('job-eacces'));
    await s.send(openFrame('job-eacces', 'build', 2, 'run-1'));
    await s.resume();
    const entries = jobEntries([{ name: 'one', stdout: Buffer.from('step one\n') }, { name: 'two', stdout: Buffer.from('step two\n') }]);
    await sendEntries(s, entries.slice(0, 3));
    await s.acked(0, 'STDOUT', 9);
    s.end();
    await s.status;

    // an operator's mistake: the job's streams folder is no longer the processor's to write
    const streams = join(data, 'jobs', 'job-eacces', 'streams');
    chmodSync(streams, 0o500);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const retry = new TestStream(processor.target, processor.token('job-eacces'));
        await retry.send(openFrame('job-eacces', 'build', 2, 'run-1'));
        await retry.resume();
        await sendEntries(retry, entries.slice(3)); // step two makes a new stream file
        const st = await retry.status;
        assert.equal(st.code, status.UNAVAILABLE, st.details);
        assert.equal(st.details, 'the output processor cannot store job job-eacces: it may not write its data directory (EACCES); keep the output and retry later');
        assert.equal(storeError(st), 'EACCES');
      }
    } finally {
      chmodSync(streams, 0o700);
    }
    const failures = processor.logLines().filter((l) => l.msg === 'cannot store' && l.job === 'job-eacces');
    assert.equal(failures.length, 1, 'logged once (retries are debug lines, not shown without --debug)');
    assert.equal(failures[0].level, 'error');
    assert.match(String(failures[0].error), /^EACCES \(permission denied\) at .*streams\/1\.stdout$/);

    const jobs = join(data, 'jobs');
    chmodSync(jobs, 0o500);
    try {
      const sick = await health(processor.http, 503);
      assert.equal(sick.status, 503);
      assert.match(sick.body, /EACCES \(permission denied\)/);
    } finally {
      chmodSync(jobs, 0o700);
    }
    assert.equal((await health(processor.http, 200)).status, 200);

    const done = new TestStream(processor.target, processor.token('job-eacces'));
    await done.send(openFrame('job-eacces', 'build', 2, 'run-1'));
    await done.resume();
    await sendEntries(done, entries);
    assert.equal((await done.complete()).complete?.verified, true);
    done.end();
  });
});
