/**
 * OutputProcessor.Stream against a real server over real gRPC: storage, idempotent resends,
 * refusals with the right status, restarts, checksums, hostile callers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, constants as h2 } from 'node:http2';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { MAX_CHUNK_BYTES } from '../../agent/output/wire/protocol.js';
import { get, jobEntries, keptLogger, openedStream, openFrame, sendEntries, sha256, startTestProcessor, streamJob, TestStream, type TestProcessor } from './support.js';

/** Output with invalid UTF-8, ANSI escapes, CRs and NULs, `size` bytes. */
function awkwardBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = i % 97 === 0 ? 0x0a : x & 0xff; // bytes 0x80-0xff at random: mostly invalid UTF-8
  }
  return out;
}

const processors: TestProcessor[] = [];
async function processor(opts: Parameters<typeof startTestProcessor>[0] = {}): Promise<TestProcessor> {
  const p = await startTestProcessor(opts);
  processors.push(p);
  return p;
}
after(async () => {
  for (const p of processors) await p.dispose();
});

describe('output processor: gRPC Stream', () => {
  it('stores a whole job byte for byte and serves it back over HTTP', async () => {
    const p = await processor();
    const out = Buffer.concat([Buffer.from('hello \x1b[31mred\x1b[0m\n'), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x0a]), awkwardBytes(300_000)]);
    const err = awkwardBytes(70_000, 7);
    const complete = await streamJob(p, 'job-full', [{ name: 'make', stdout: out, stderr: err }, { name: 'quiet' }]);
    assert.deepEqual(complete.complete, { verified: true, message: '' });

    const stdout = await get(`${p.http}/api/jobs/job-full/steps/0/output`);
    assert.equal(stdout.status, 200);
    assert.equal(sha256(stdout.body).toString('hex'), sha256(out).toString('hex'));
    const stderr = await get(`${p.http}/api/jobs/job-full/steps/0/output?stream=stderr`);
    assert.ok(stderr.body.equals(err));
    const empty = await get(`${p.http}/api/jobs/job-full/steps/1/output`);
    assert.equal(empty.status, 200);
    assert.equal(empty.body.length, 0);

    const job = JSON.parse((await get(`${p.http}/api/jobs/job-full`)).body.toString()) as { status: string; name: string; environment: Record<string, string>; steps: { index: number; name: string; status: string; exitCode: number; bytes: Record<string, number> }[] };
    assert.equal(job.status, 'complete');
    assert.equal(job.environment.CI, 'true');
    assert.deepEqual(
      job.steps.map((s) => [s.index, s.name, s.status, s.exitCode, s.bytes.stdout ?? 0]),
      [
        [0, 'make', 'success', 0, out.length],
        [1, 'quiet', 'success', 0, 0],
      ],
    );
    const list = JSON.parse((await get(`${p.http}/api/jobs`)).body.toString()) as { id: string; status: string }[];
    assert.deepEqual(list.map((j) => [j.id, j.status]), [['job-full', 'complete']]);
    const events = JSON.parse((await get(`${p.http}/api/jobs/job-full/events`)).body.toString()) as { seq: number; type: string }[];
    assert.deepEqual(events.map((e) => `${e.seq}:${e.type}`), ['0:step-started', '1:step-finished', '2:step-started', '3:step-finished', '4:job-finished']);
  });

  it('ignores resent bytes and events: a reconnecting agent duplicates nothing', async () => {
    const p = await processor();
    const out = awkwardBytes(200_000, 3);
    const entries = jobEntries([{ name: 's', stdout: out }], 10_000);
    const job = entries.slice(0, -1);
    const first = new TestStream(p.target, p.token('job-resend'));
    await first.send(openFrame('job-resend'));
    const r1 = await first.resume();
    assert.deepEqual(r1.resume, { streams: [], nextEventSeq: 0, takesSshStatus: true });
    await sendEntries(first, job.slice(0, 12), 4); // step-started + 11 chunks
    await first.acked(0, 'STDOUT', 110_000);
    first.end();
    assert.equal((await first.status).code, status.OK);

    const second = new TestStream(p.target, p.token('job-resend'));
    await second.send(openFrame('job-resend'));
    const r2 = await second.resume();
    assert.deepEqual(r2.resume, { streams: [{ step: 0, stream: 'STDOUT', offset: 110_000 }], nextEventSeq: 1, takesSshStatus: true });
    // resend everything from the start, and a chunk that straddles the stored end
    await second.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 105_000, data: out.subarray(105_000, 115_000) } }] } });
    await sendEntries(second, entries, 5);
    const c = await second.complete();
    assert.deepEqual(c.complete, { verified: true, message: '' });
    second.end();
    const body = (await get(`${p.http}/api/jobs/job-resend/steps/0/output`)).body;
    assert.equal(body.length, out.length);
    assert.ok(body.equals(out));
    const events = JSON.parse((await get(`${p.http}/api/jobs/job-resend/events`)).body.toString()) as unknown[];
    assert.equal(events.length, 3);
  });

  it('refuses a gap in output or in events with FAILED_PRECONDITION naming where', async () => {
    const p = await processor();
    const s = await openedStream(p, 'job-gap');
    await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.from('abc') } }, { chunk: { step: 0, stream: 'STDOUT', offset: 10, data: Buffer.from('x') } }] } });
    const st = await s.status;
    assert.equal(st.code, status.FAILED_PRECONDITION);
    assert.match(st.details, /step 0 stdout: a chunk at offset 10 but only 3 bytes are stored; resend from offset 3/);
    // what came before the bad chunk was stored
    assert.equal((await get(`${p.http}/api/jobs/job-gap/steps/0/output`)).body.toString(), 'abc');
    const job = JSON.parse((await get(`${p.http}/api/jobs/job-gap`)).body.toString()) as { steps: { bytes: { stdout: number } }[] };
    assert.equal(job.steps[0].bytes.stdout, 3);

    const e = await openedStream(p, 'job-gap');
    await e.send({ batch: { entries: [{ stepStarted: { seq: 2, step: 0, name: 'x', type: 'run', timeUnixMs: 0, background: false } }] } });
    const st2 = await e.status;
    assert.equal(st2.code, status.FAILED_PRECONDITION);
    assert.match(st2.details, /seq 2 but the next stored seq is 0/);
  });

  it('refuses a missing, wrong or other job\'s token with UNAUTHENTICATED', async () => {
    const p = await processor();
    for (const token of [undefined, 'nonsense', p.token('some-other-job')]) {
      const s = new TestStream(p.target, token);
      await s.send(openFrame('job-auth'));
      const st = await s.status;
      assert.equal(st.code, status.UNAUTHENTICATED, `token ${token}`);
      assert.equal(s.received.length, 0);
    }
    assert.equal((await get(`${p.http}/api/jobs/job-auth`)).status, 404);
  });

  it('refuses oversized chunks and messages, frames before Open, and bad fields; keeps serving', async () => {
    const p = await processor();
    const cases: { name: string; frames: Parameters<TestStream['send']>[0][]; code: status; details: RegExp }[] = [
      { name: 'chunk over 64 KiB', frames: [openFrame('job-h1'), { batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.alloc(MAX_CHUNK_BYTES + 1) } }] } }], code: status.INVALID_ARGUMENT, details: /65537 bytes; the limit is 65536/ },
      {
        name: 'message over the limit',
        frames: [openFrame('job-h2'), { batch: { entries: Array.from({ length: 20 }, (_, i) => ({ chunk: { step: 0, stream: 'STDOUT' as const, offset: i * 65536, data: Buffer.alloc(65536) } })) } }],
        code: status.RESOURCE_EXHAUSTED,
        details: /larger than/,
      },
      { name: 'batch before Open', frames: [{ batch: { entries: [] } }], code: status.FAILED_PRECONDITION, details: /first frame of a Stream must be Open/ },
      { name: 'bad job id', frames: [openFrame('../etc')], code: status.INVALID_ARGUMENT, details: /is not valid/ },
      { name: 'unknown stream kind', frames: [openFrame('job-h3'), { batch: { entries: [{ chunk: { step: 0, stream: 9, offset: 0, data: Buffer.from('x') } }] } }], code: status.INVALID_ARGUMENT, details: /unknown stream kind 9/ },
      { name: 'step out of range', frames: [openFrame('job-h4'), { batch: { entries: [{ chunk: { step: 1_000_000, stream: 'STDOUT', offset: 0, data: Buffer.from('x') } }] } }], code: status.INVALID_ARGUMENT, details: /step 1000000/ },
      { name: 'offset past 2^53', frames: [openFrame('job-h7'), { batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 2 ** 60, data: Buffer.from('x') } }] } }], code: status.INVALID_ARGUMENT, details: /has offset/ },
      { name: 'SSH status with an unknown phase', frames: [openFrame('job-h8'), { batch: { entries: [{ sshStatus: { seq: 0, phase: 'napping', command: 'ssh -p 1 u@h', user: 'u', host: 'h', port: 1, hostKey: '', hostKeyFingerprint: '', sessions: 0, timeUnixMs: 1 } }] } }], code: status.INVALID_ARGUMENT, details: /SshStatus has phase "napping"/ },
      { name: 'empty entry', frames: [openFrame('job-h5'), { batch: { entries: [{}] } }], code: status.INVALID_ARGUMENT, details: /an Entry with none/ },
      { name: 'second Open', frames: [openFrame('job-h6'), openFrame('job-h6')], code: status.FAILED_PRECONDITION, details: /a second Open/ },
    ];
    for (const c of cases) {
      const jobId = c.frames[0].open?.jobId ?? 'x';
      const s = new TestStream(p.target, p.token(jobId));
      for (const f of c.frames) await s.send(f);
      const st = await s.status;
      assert.equal(st.code, c.code, `${c.name}: ${st.details}`);
      assert.match(st.details, c.details, c.name);
    }
    const ok = await streamJob(p, 'job-after-hostile', [{ name: 'fine', stdout: Buffer.from('still here\n') }]);
    assert.equal(ok.complete?.verified, true);
  });

  it('survives garbage bytes on the wire and a flood of tiny messages', async () => {
    const p = await processor();
    // a gRPC request whose message is not protobuf at all
    const session = connect(p.target.startsWith('http') ? p.target : `http://${p.target}`);
    session.on('error', () => undefined);
    const req = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/deckhand.output.v1.OutputProcessor/Stream',
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${p.token('job-garbage')}`,
    });
    const garbage = Buffer.from([0x0a, 0x05, 0x1a, 0x03, 0xff, 0xff, 0xff]);
    const frame = Buffer.alloc(5 + garbage.length);
    frame.writeUInt32BE(garbage.length, 1);
    garbage.copy(frame, 5);
    const trailers = new Promise<Record<string, unknown>>((resolve) => {
      req.on('trailers', (t) => resolve(t));
      req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) resolve(h);
      });
    });
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.end(frame);
    const t = await trailers;
    assert.notEqual(t['grpc-status'], '0');
    session.close();

    // tiny messages, one entry of one byte each, as fast as flow control lets them through
    const n = 20_000;
    const s = await openedStream(p, 'job-tiny');
    await s.send({ batch: { entries: [{ stepStarted: { seq: 0, step: 0, name: 'tiny', type: 'run', timeUnixMs: 0, background: false } }] } });
    const bytes = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      bytes[i] = 0x61 + (i % 26);
      await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: i, data: bytes.subarray(i, i + 1) } }] } });
    }
    await s.send({ batch: { entries: [{ stepFinished: { seq: 1, step: 0, status: 'success', durationMs: 1, message: '' } }, { jobFinished: { seq: 2, status: 'success', durationMs: 1, streams: [{ step: 0, stream: 'STDOUT', bytes: n, sha256: sha256(bytes) }] } }] } });
    assert.equal((await s.complete()).complete?.verified, true);
    s.end();
    assert.ok((await get(`${p.http}/api/jobs/job-tiny/steps/0/output`)).body.equals(bytes));
    assert.equal((await get(`${p.http}/status`)).status, 200);
  });

  it('ends a call that sends no Open, or goes silent, at the idle deadline; serves other jobs meanwhile', async () => {
    const p = await processor({ openTimeoutMs: 1500, idleTimeoutMs: 2000 });
    const started = Date.now();
    const silent = new TestStream(p.target, p.token('job-idle'));
    const idle = await openedStream(p, 'job-idle-2');
    // a stream that never ends but keeps trickling is a long job, not an idle one: it stays open
    const trickle = await openedStream(p, 'job-trickle');
    let offset = 0;
    const ticker = setInterval(() => void trickle.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: offset++, data: Buffer.from('.') } }] } }), 200);
    let ended = 0;
    void silent.status.then(() => ended++);
    void idle.status.then(() => ended++);
    try {
      // while those hang on, another job is served in full
      assert.equal((await streamJob(p, 'job-beside-idle', [{ name: 'ok', stdout: Buffer.from('served\n') }])).complete?.verified, true);
      assert.equal(ended, 0, 'the idle calls ended before the other job was served: the test proves nothing');
      const st = await silent.status;
      assert.equal(st.code, status.DEADLINE_EXCEEDED);
      assert.match(st.details, /no Open for 2 s/);
      const st2 = await idle.status;
      assert.equal(st2.code, status.DEADLINE_EXCEEDED);
      assert.match(st2.details, /no more output/);
      assert.ok(Date.now() - started >= 1400, 'ended before its deadline');
      await new Promise((resolve) => setTimeout(resolve, 2500 - (Date.now() - started)));
      assert.ok(trickle.received.every((f) => !f.complete));
      await trickle.acked(0, 'STDOUT', 5);
      let trickleEnded = false;
      void trickle.status.then(() => (trickleEnded = true));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(trickleEnded, false, 'a stream that keeps sending was cut off');
    } finally {
      clearInterval(ticker);
      trickle.cancel();
    }
    assert.equal((await get(`${p.http}/status`)).status, 200);
  });

  it('lets a newer call for the same job take over from an older one', async () => {
    const p = await processor();
    const old = await openedStream(p, 'job-twice');
    const fresh = await openedStream(p, 'job-twice');
    await old.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.from('stale') } }] } });
    const st = await old.status;
    assert.equal(st.code, status.ABORTED);
    await fresh.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.from('fresh') } }] } });
    await fresh.acked(0, 'STDOUT', 5);
    fresh.end();
    assert.equal(readFileSync(join(p.dataDir, 'jobs', 'job-twice', 'streams', '0.stdout'), 'utf8'), 'fresh');
  });

  it('resumes after the processor restarts on the same data directory', async () => {
    const first = await processor();
    const out = awkwardBytes(500_000, 11);
    const entries = jobEntries([{ name: 'long', stdout: out }], 50_000);
    const s = await openedStream(first, 'job-restart');
    await sendEntries(s, entries.slice(0, 6), 2); // step-started + 5 chunks = 250 000 bytes
    await s.acked(0, 'STDOUT', 250_000);
    await first.stop();
    const st = await s.status;
    assert.equal(st.code, status.UNAVAILABLE);
    assert.match(st.details, /shutting down/);

    const second = await startTestProcessor({ dataDir: first.dataDir });
    processors.push(second);
    const again = new TestStream(second.target, second.token('job-restart'));
    await again.send(openFrame('job-restart'));
    const r = await again.resume();
    assert.deepEqual(r.resume, { streams: [{ step: 0, stream: 'STDOUT', offset: 250_000 }], nextEventSeq: 1, takesSshStatus: true });
    await sendEntries(again, entries.slice(6), 3);
    assert.deepEqual((await again.complete()).complete, { verified: true, message: '' });
    again.end();
    assert.ok((await get(`${second.http}/api/jobs/job-restart/steps/0/output`)).body.equals(out));
  });

  it('marks a job incomplete when the stored bytes do not match JobFinished, and takes nothing after it', async () => {
    const p = await processor();
    const s = await openedStream(p, 'job-bad-sum');
    const data = Buffer.from('what was stored\n');
    await s.send({
      batch: {
        entries: [
          { stepStarted: { seq: 0, step: 0, name: 'x', type: 'run', timeUnixMs: 0, background: false } },
          { chunk: { step: 0, stream: 'STDOUT', offset: 0, data } },
          { stepFinished: { seq: 1, step: 0, status: 'success', durationMs: 1, message: '' } },
          {
            jobFinished: {
              seq: 2,
              status: 'success',
              durationMs: 1,
              streams: [
                { step: 0, stream: 'STDOUT', bytes: data.length, sha256: sha256(Buffer.from('what the agent meant\n')) },
                { step: 0, stream: 'STDERR', bytes: 4, sha256: sha256(Buffer.from('lost')) },
              ],
            },
          },
        ],
      },
    });
    const c = await s.complete();
    assert.equal(c.complete?.verified, false);
    assert.match(c.complete?.message ?? '', /step 0 stdout: SHA-256 of the stored bytes differs/);
    assert.match(c.complete?.message ?? '', /step 0 stderr: 0 bytes stored, the agent sent 4/);
    s.end();
    const job = JSON.parse((await get(`${p.http}/api/jobs/job-bad-sum`)).body.toString()) as { status: string; finished: { message: string } };
    assert.equal(job.status, 'incomplete');
    assert.match(job.finished.message, /SHA-256/);

    // a finished job takes no more output
    const late = await openedStream(p, 'job-bad-sum');
    await late.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: data.length, data: Buffer.from('late\n') } }] } });
    const st = await late.status;
    assert.equal(st.code, status.FAILED_PRECONDITION);
    assert.match(st.details, /has finished/);
  });

  it('refuses a resent chunk whose bytes differ from the stored ones as a conflict, logs it, and keeps the stored bytes', async () => {
    const logger = keptLogger();
    const p = await processor({ logger });
    const s = await openedStream(p, 'job-conflict');
    await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.from('hello world\n') } }] } });
    await s.acked(0, 'STDOUT', 12);
    // the same bytes again are a harmless resend, also when they straddle the end
    await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 6, data: Buffer.from('world\nmore\n') } }] } });
    await s.acked(0, 'STDOUT', 17);
    // different bytes below the stored end: refused, even when the new tail would be fine
    await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 6, data: Buffer.from('WORLD\nnew tail\n') } }] } });
    const st = await s.status;
    assert.equal(st.code, status.ALREADY_EXISTS, st.details);
    assert.match(st.details, /conflict in step 0 stdout: the resent chunk at offset 6 \(11 bytes already stored\) differs from the stored bytes at offset 6; stored output is never replaced/);
    const refused = logger.lines.filter((l) => l.msg === 'stream refused' && l.fields.job === 'job-conflict');
    assert.equal(refused.length, 1, JSON.stringify(logger.lines));
    assert.equal(refused[0].level, 'warn');
    assert.equal(refused[0].fields.code, 'ALREADY_EXISTS');
    assert.match(String(refused[0].fields.error), /conflict in step 0 stdout/);
    assert.equal(readFileSync(join(p.dataDir, 'jobs', 'job-conflict', 'streams', '0.stdout'), 'utf8'), 'hello world\nmore\n');

    // a difference in the middle of a resend is found where it is, and the bytes after it are not stored
    const again = await openedStream(p, 'job-conflict');
    await again.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.from('hello wOrld\nmore\nand on') } }] } });
    const st2 = await again.status;
    assert.equal(st2.code, status.ALREADY_EXISTS);
    assert.match(st2.details, /differs from the stored bytes at offset 7/);
    assert.equal(readFileSync(join(p.dataDir, 'jobs', 'job-conflict', 'streams', '0.stdout'), 'utf8'), 'hello world\nmore\n');
  });

  it('refuses a finished job\'s id to another delivery at once, and gives the delivery that finished it its verdict again', async () => {
    const p = await processor();
    const out = Buffer.from('first run\n');
    const first = await openedStream(p, 'job-once', 'delivery-a');
    await sendEntries(first, jobEntries([{ name: 'make', stdout: out }]));
    assert.equal((await first.complete()).complete?.verified, true);
    first.end();

    // a second run under the same id: refused in answer to Open, before any Resume
    const started = Date.now();
    const second = new TestStream(p.target, p.token('job-once'));
    await second.send(openFrame('job-once', 'build', 1, 'delivery-b'));
    const st = await second.status;
    assert.ok(Date.now() - started < 2000, `refused after ${Date.now() - started} ms`);
    assert.equal(st.code, status.ALREADY_EXISTS);
    assert.match(st.details, /^job job-once already finished at \d{4}-\d\d-\d\dT[\d:.]+Z \(complete\) and is another run's: a job id names one run of a job; stream this run under a new job id$/);
    assert.equal(second.received.length, 0);

    // the delivery that finished it (its Complete was lost, say) reconnects and gets the verdict again
    const same = await openedStream(p, 'job-once', 'delivery-a');
    await sendEntries(same, jobEntries([{ name: 'make', stdout: out }]).slice(-1));
    assert.deepEqual((await same.complete()).complete, { verified: true, message: '' });
    same.end();
    assert.equal((await same.status).code, status.OK);
    assert.ok((await get(`${p.http}/api/jobs/job-once/steps/0/output`)).body.equals(out));
  });
});
