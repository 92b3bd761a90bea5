/** The processor's HTTP API against a real server: Range, errors, hostile requests, health, and the SSE live tail. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
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

/** A GET sent exactly as written (fetch would normalise `..` and reject odd headers). */
function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end();
  });
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

  it('answers hostile requests with 4xx and keeps serving: odd ranges, path traversal, huge Last-Event-ID, huge headers', async () => {
    const port = Number(new URL(p.http).port);
    const url = `${p.http}/api/jobs/job-http/steps/0/output`;
    // ranges: malformed or reversed ones are ignored (the whole body), impossible ones are 416
    for (const range of ['bytes=abc', 'bytes=5-2', 'items=0-5', 'bytes=--1', `bytes=${'1'.repeat(5000)}`]) {
      const r = await get(url, { range });
      assert.equal(r.status, 200, range);
      assert.ok(r.body.equals(out), range);
    }
    for (const range of ['bytes=-0', 'bytes=99999999999999999999-', 'bytes=1000-1000']) assert.equal((await get(url, { range })).status, 416, range);
    const huge = await get(url, { range: 'bytes=-99999999999' });
    assert.equal(huge.status, 206);
    assert.ok(huge.body.equals(out));

    // path traversal: the data directory's secret must never come back, whatever the path says
    const secret = readFileSync(join(p.dataDir, 'secret'));
    for (const [path, want] of [
      ['/api/jobs/..%2F..%2Fsecret/events', 400],
      ['/api/jobs/%2e%2e/events', 400],
      ['/api/jobs/..%2fsecret', 400],
      ['/api/jobs/job-http%00/events', 400],
      ['/api/jobs/job-http/steps/..%2F..%2F..%2Fsecret/output', 400],
      ['/api/jobs/job-http/steps/0/output?stream=../../../secret', 400],
      ['/api/jobs/job-http/steps/0%2F..%2F..%2Fmeta.json/output', 400],
      ['/jobs/..%2F..%2Fsecret', 400],
      ['/api/jobs/job-http%2fsteps', 400],
      ['/api/jobs/job-http/steps/0/out%ZZput', 400],
      ['/api/jobs/job-http/secret', 404],
      ['/api/jobs/job-http/../../../secret', 400],
      ['/api/jobs/job-http/steps/0/../../../../secret', 400],
      ['/../../secret', 400],
    ] as const) {
      const r = await rawGet(port, path);
      assert.equal(r.status, want, path);
      assert.ok(!r.body.includes(secret), `${path} returned the secret`);
    }

    // Last-Event-ID: past the end starts at the end; too long or not a position is 400
    const fromFar = await readSse(`${p.http}/api/jobs/job-http/live`, { 'last-event-id': '999999999999999' }, (evs) => evs.some((e) => e.event === 'end'));
    assert.deepEqual(fromFar.map((e) => e.event), ['end']);
    for (const id of ['9'.repeat(5000), '1.2.3', '-1', '1e9', '0x10']) {
      const r = await get(`${p.http}/api/jobs/job-http/live`, { 'last-event-id': id });
      assert.equal(r.status, 400, id.slice(0, 20));
      assert.match(JSON.parse(r.body.toString()).error as string, /bad position/);
    }
    // headers beyond node's limit are refused before any route runs
    assert.equal((await rawGet(port, '/api/jobs/job-http/live', { 'last-event-id': '1'.repeat(100_000) })).status, 431);

    assert.equal((await get(`${p.http}/status`)).status, 200);
    assert.ok((await get(url)).body.equals(out));
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
