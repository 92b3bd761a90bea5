/** The processor's HTTP API against a real server: Range, errors, health, and the SSE live tail. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { get, jobEntries, openFrame, sendEntries, startTestProcessor, streamJob, TestStream, type TestProcessor } from './support.js';

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Reads Server-Sent Events from `url` until `until` says stop; returns them. */
async function readSse(url: string, headers: Record<string, string>, until: (events: SseEvent[]) => boolean, onEvent?: (ev: SseEvent) => Promise<void> | void): Promise<SseEvent[]> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const timer = setTimeout(() => ac.abort(), 20_000);
  try {
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(part, { stream: true });
      let at: number;
      while ((at = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const ev: SseEvent = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          const [k, ...v] = line.split(': ');
          if (k === 'id') ev.id = v.join(': ');
          else if (k === 'event') ev.event = v.join(': ');
          else if (k === 'data') ev.data = v.join(': ');
        }
        if (block.startsWith(':') || block.startsWith('retry')) continue;
        events.push(ev);
        await onEvent?.(ev);
        if (until(events)) return events;
      }
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return events;
}

function outputOf(events: SseEvent[]): string {
  return events
    .filter((e) => e.event === 'output')
    .map((e) => Buffer.from((JSON.parse(e.data) as { data: string }).data, 'base64').toString('latin1'))
    .join('');
}

describe('output processor: HTTP API', () => {
  let p: TestProcessor;
  const out = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
  before(async () => {
    p = await startTestProcessor();
    await streamJob(p, 'job-http', [{ name: 'bytes', stdout: out }]);
  });
  after(async () => p.dispose());

  it('serves Range requests: 206 with Content-Range, suffix and open ranges, 416 past the end', async () => {
    const url = `${p.http}/api/jobs/job-http/steps/0/output`;
    const r = await get(url, { range: 'bytes=10-19' });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), 'bytes 10-19/1000');
    assert.ok(r.body.equals(out.subarray(10, 20)));
    const suffix = await get(url, { range: 'bytes=-5' });
    assert.equal(suffix.status, 206);
    assert.ok(suffix.body.equals(out.subarray(995)));
    const open = await get(url, { range: 'bytes=990-' });
    assert.ok(open.body.equals(out.subarray(990)));
    const clipped = await get(url, { range: 'bytes=998-5000' });
    assert.equal(clipped.headers.get('content-range'), 'bytes 998-999/1000');
    const past = await get(url, { range: 'bytes=1000-' });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), 'bytes */1000');
    const several = await get(url, { range: 'bytes=0-1,5-6' });
    assert.equal(several.status, 200);
    assert.equal(several.body.length, 1000);
    assert.equal((await get(url)).headers.get('accept-ranges'), 'bytes');
  });

  it('answers unknown jobs and steps with 404, bad parameters with 400, health with 200', async () => {
    assert.equal((await get(`${p.http}/api/jobs/no-such-job`)).status, 404);
    assert.equal((await get(`${p.http}/jobs/no-such-job`)).status, 404);
    assert.equal((await get(`${p.http}/api/jobs/job-http/steps/7/output`)).status, 404);
    assert.equal((await get(`${p.http}/api/jobs/job-http/steps/x/output`)).status, 400);
    assert.equal((await get(`${p.http}/api/jobs/job-http/steps/0/output?stream=nope`)).status, 400);
    assert.equal((await get(`${p.http}/api/jobs/%ZZ`)).status, 400);
    assert.equal((await get(`${p.http}/api/jobs/job-http/live`, { 'last-event-id': 'garbage' })).status, 400);
    assert.equal((await get(`${p.http}/nowhere`)).status, 404);
    const post = await fetch(`${p.http}/api/jobs`, { method: 'POST' });
    assert.equal(post.status, 405);
    for (const path of ['/status', '/health-check']) assert.equal((await get(`${p.http}${path}`)).status, 200);
    const err = JSON.parse((await get(`${p.http}/api/jobs/no-such-job`)).body.toString()) as { error: string };
    assert.match(err.error, /no job no-such-job/);
  });

  it('tails a running job live over SSE and resumes from Last-Event-ID without duplicates', async () => {
    const jobId = 'job-live';
    const s = new TestStream(p.target, p.token(jobId));
    await s.send(openFrame(jobId));
    await s.resume();
    const lines = ['first line\n', 'second line\n', 'third line\n', 'fourth line\n'];
    const data = Buffer.from(lines.join(''), 'latin1');
    const entries = jobEntries([{ name: 'live', stdout: data }]);
    // step-started and the first line
    await s.send({ batch: { entries: [entries[0], { chunk: { step: 0, stream: 'STDOUT', offset: 0, data: Buffer.from(lines[0]) } }] } });
    let offset = lines[0].length;
    const sendLine = async (i: number): Promise<void> => {
      await s.send({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset, data: Buffer.from(lines[i]) } }] } });
      offset += lines[i].length;
    };
    // first connection: sees line 1, then line 2 arrives live
    const firstRun = await readSse(
      `${p.http}/api/jobs/${jobId}/live`,
      {},
      (evs) => outputOf(evs).includes('second'),
      async (ev) => {
        if (ev.event === 'output' && outputOf([ev]).includes('first')) await sendLine(1);
      },
    );
    assert.equal(firstRun[0].event, 'step-started');
    assert.equal(outputOf(firstRun), lines[0] + lines[1]);
    const lastId = firstRun[firstRun.length - 1].id!;
    // while nobody watches, line 3; then the rest of the job
    await sendLine(2);
    await sendLine(3);
    await sendEntries(s, entries.slice(2));
    assert.equal((await s.complete()).complete?.verified, true);
    s.end();
    const second = await readSse(`${p.http}/api/jobs/${jobId}/live`, { 'last-event-id': lastId }, (evs) => evs.some((e) => e.event === 'end'));
    assert.equal(outputOf(second), lines[2] + lines[3]);
    assert.deepEqual(
      second.filter((e) => e.event !== 'output').map((e) => e.event),
      ['step-finished', 'job-finished', 'end'],
    );
    assert.equal((JSON.parse(second[second.length - 1].data) as { status: string }).status, 'complete');
    // ids are positions: from 0 again, the whole job
    const whole = await readSse(`${p.http}/api/jobs/${jobId}/live?from=0`, {}, (evs) => evs.some((e) => e.event === 'end'));
    assert.equal(outputOf(whole), lines.join(''));
  });
});
