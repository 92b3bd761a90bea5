/**
 * A job whose delivery stops short of JobFinished does not stay `running`: the agent's GiveUp
 * marks it incomplete with the agent's reason, and a job no call feeds for the abandon timeout is
 * marked by the processor itself. The delivery that was given up for lost may come back and
 * finish; any other is refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { get, jobEntries, keptLogger, openedStream, openFrame, sendEntries, startTestProcessor, TestStream, type TestProcessor } from './support.js';

const processors: TestProcessor[] = [];
after(async () => {
  for (const p of processors.reverse()) await p.dispose();
});

interface JobView {
  status: string;
  finished?: { status: string; message: string; abandoned?: string };
}

async function job(p: TestProcessor, id: string): Promise<JobView> {
  return JSON.parse((await get(`${p.http}/api/jobs/${id}`)).body.toString()) as JobView;
}

describe('output processor: jobs whose delivery stops', () => {
  it('marks a job incomplete with the agent\'s reason when it gives up, and tells live tails', async () => {
    const logger = keptLogger();
    const p = await startTestProcessor({ logger });
    processors.push(p);
    const s = await openedStream(p, 'job-given-up', 'run-1');
    const entries = jobEntries([{ name: 'make', stdout: Buffer.from('some output\n') }]);
    await sendEntries(s, entries.slice(0, 2));
    await s.acked(0, 'STDOUT', 12);
    s.end();
    await s.status;
    const tail = fetch(`${p.http}/api/jobs/job-given-up/live`).then((r) => r.text());

    const g = new TestStream(p.target, p.token('job-given-up'));
    await g.send(openFrame('job-given-up', 'build', 1, 'run-1'));
    await g.send({ giveUp: { reason: '1 KiB not delivered; last error: RESOURCE_EXHAUSTED: disk full', jobStatus: 'failed' } });
    g.end();
    const c = await g.complete();
    assert.equal(c.complete?.verified, false);
    assert.equal(c.complete?.message, 'the agent gave up delivering: 1 KiB not delivered; last error: RESOURCE_EXHAUSTED: disk full');
    assert.equal((await g.status).code, status.OK);

    const j = await job(p, 'job-given-up');
    assert.equal(j.status, 'incomplete');
    assert.deepEqual({ ...j.finished, unixMs: 0 }, { status: 'failed', unixMs: 0, message: c.complete?.message, abandoned: 'agent' });
    const meta = JSON.parse(readFileSync(join(p.dataDir, 'jobs', 'job-given-up', 'meta.json'), 'utf8')) as JobView;
    assert.equal(meta.status, 'incomplete');
    // the live tail that was following the job ends with the verdict
    assert.match(await tail, /event: end\ndata: \{"status":"incomplete","jobStatus":"failed","message":"the agent gave up delivering: 1 KiB/);
    assert.ok(logger.lines.some((l) => l.msg === 'job given up' && l.fields.job === 'job-given-up'));

    // a give-up for a finished job changes nothing: the verdict stands
    const late = new TestStream(p.target, p.token('job-given-up'));
    await late.send(openFrame('job-given-up', 'build', 1, 'run-1'));
    await late.send({ giveUp: { reason: 'again', jobStatus: '' } });
    late.end();
    assert.equal((await late.complete()).complete?.message, c.complete?.message);
  });

  it('marks a running job no call feeds incomplete after the abandon timeout; its own delivery reopens it, no other', async () => {
    const logger = keptLogger();
    const p = await startTestProcessor({ logger, abandonTimeoutMs: 1000 });
    processors.push(p);
    const entries = jobEntries([{ name: 'make', stdout: Buffer.from('before the agent died\n') }]);
    const s = await openedStream(p, 'job-dead-agent', 'run-1');
    await sendEntries(s, entries.slice(0, 2));
    await s.acked(0, 'STDOUT', 22);
    s.cancel(); // the agent is gone without a word

    // a job that is fed meanwhile stays running
    const busy = await openedStream(p, 'job-alive', 'run-2');
    let offset = 0;
    const ticker = setInterval(() => void busy.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: offset++, data: Buffer.from('.') } }] } }), 100);
    let j: JobView;
    const since = Date.now();
    try {
      do {
        await new Promise((resolve) => setTimeout(resolve, 100));
        j = await job(p, 'job-dead-agent');
      } while (j.status === 'running' && Date.now() - since < 10_000);
      assert.equal((await job(p, 'job-alive')).status, 'running');
    } finally {
      clearInterval(ticker);
      busy.cancel();
    }
    assert.ok(Date.now() - since >= 800, `abandoned after ${Date.now() - since} ms, before its timeout`);
    assert.equal(j.status, 'incomplete');
    assert.equal(j.finished?.abandoned, 'timeout');
    assert.match(j.finished?.message ?? '', /^no stream for \d+ s: its agent stopped delivering before the job's end/);
    assert.ok(logger.lines.some((l) => l.msg === 'job abandoned' && l.fields.job === 'job-dead-agent' && l.level === 'warn'));

    // another run under the id: refused
    const other = new TestStream(p.target, p.token('job-dead-agent'));
    await other.send(openFrame('job-dead-agent', 'build', 1, 'run-3'));
    assert.equal((await other.status).code, status.ALREADY_EXISTS);

    // the agent was only cut off: it comes back, resumes where it was, and finishes
    const back = new TestStream(p.target, p.token('job-dead-agent'));
    await back.send(openFrame('job-dead-agent', 'build', 1, 'run-1'));
    assert.deepEqual((await back.resume()).resume, { streams: [{ step: 0, stream: 'STDOUT', offset: 22 }], nextEventSeq: 1, takesSshStatus: true });
    assert.equal((await job(p, 'job-dead-agent')).status, 'running');
    await sendEntries(back, entries);
    assert.deepEqual((await back.complete()).complete, { verified: true, message: '' });
    back.end();
    assert.equal((await job(p, 'job-dead-agent')).status, 'complete');
  });

  it('abandons jobs left running by a previous life of the processor', async () => {
    const first = await startTestProcessor();
    processors.push(first);
    const s = await openedStream(first, 'job-before-restart', 'run-1');
    await sendEntries(s, jobEntries([{ name: 'make', stdout: Buffer.from('x\n') }]).slice(0, 2));
    await s.acked(0, 'STDOUT', 2);
    await first.stop();
    await s.status;

    const second = await startTestProcessor({ dataDir: first.dataDir, abandonTimeoutMs: 500 });
    processors.push(second);
    let j: JobView;
    const since = Date.now();
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      j = await job(second, 'job-before-restart');
    } while (j.status === 'running' && Date.now() - since < 10_000);
    assert.equal(j.finished?.abandoned, 'timeout');
  });
});
