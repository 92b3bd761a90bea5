/**
 * The agent's side of the output protocol before the network: job events → entries (offsets, seq,
 * totals), batches (64 KiB or a few ms), the spool on disk (round trip, release after Ack, a cursor
 * that outlives released segments), and the trimming of a resend to what the processor lacks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Batcher } from '../../../agent/output/stream/batcher.js';
import { advanceStored, formatDeliveryReport, unstored } from '../../../agent/output/stream/delivery.js';
import { EntryEncoder, MAX_CHUNK_BYTES, streamKey, type ChunkEntry, type OutputEntry } from '../../../agent/output/stream/entries.js';
import { Spool, type SpoolCursor, type StoredState } from '../../../agent/output/stream/spool.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(spool: Spool, cursor: SpoolCursor): Promise<OutputEntry[]> {
  const out: OutputEntry[] = [];
  for (;;) {
    const r = await spool.read(cursor);
    if (r === 'end' || r === 'wait') return out;
    for (const b of r) out.push(...b);
  }
}

describe('EntryEncoder', () => {
  test('offsets per (step, stream), seq over events, totals and SHA-256 per stream, chunks at most 64 KiB', () => {
    const enc = new EntryEncoder();
    const big = randomBytes(MAX_CHUNK_BYTES * 2 + 10);
    const bad = Buffer.from([0xff, 0xfe, 0x80, 0x0a]); // not UTF-8
    const entries = [
      enc.encode({ type: 'job-start', job: 'build', time: 1, environment: { A: '1' } }),
      enc.encode({ type: 'step-start', index: -1, name: 'Spin up environment', stepType: 'spin-up', time: 2, background: false }),
      enc.encode({ type: 'output', index: -1, stream: 'agent', data: Buffer.from('pulling\n') }),
      enc.encode({ type: 'step-end', index: -1, status: 'success', durationMs: 3 }),
      enc.encode({ type: 'step-start', index: 0, name: 'big', stepType: 'run', time: 4, background: false }),
      enc.encode({ type: 'output', index: 0, stream: 'stdout', data: big }),
      enc.encode({ type: 'output', index: 0, stream: 'stderr', data: bad }),
      enc.encode({ type: 'output', index: 0, stream: 'stdout', data: bad }),
      enc.encode({ type: 'output', index: 0, stream: 'stdout', data: Buffer.alloc(0) }),
      enc.encode({ type: 'step-end', index: 0, status: 'failed', exitCode: 3, durationMs: 5.4, message: 'why' }),
      enc.encode({ type: 'job-end', status: 'failed', durationMs: 9 }),
    ].flat();
    assert.deepEqual(enc.opening, { jobName: 'build', startedUnixMs: 1, environment: { A: '1' } });
    const chunks = entries.filter((e): e is ChunkEntry => e.kind === 'chunk');
    assert.ok(chunks.every((c) => c.data.length <= MAX_CHUNK_BYTES));
    const stdout = chunks.filter((c) => c.step === 0 && c.stream === 1);
    assert.deepEqual(stdout.map((c) => c.offset), [0, MAX_CHUNK_BYTES, MAX_CHUNK_BYTES * 2, big.length]);
    assert.deepEqual(chunks.filter((c) => c.stream === 2).map((c) => c.offset), [0]);
    const events = entries.filter((e) => e.kind !== 'chunk');
    assert.deepEqual(events.map((e) => ('seq' in e ? e.seq : -1)), [0, 1, 2, 3, 4]);
    const last = events[events.length - 1];
    assert.equal(last.kind, 'job-finished');
    if (last.kind !== 'job-finished') return;
    const totals = new Map(last.streams.map((s) => [streamKey(s.step, s.stream), { bytes: s.bytes, sha: s.sha256.toString('hex') }]));
    assert.deepEqual(totals.get('0:1'), { bytes: big.length + 4, sha: sha(Buffer.concat([big, bad])) });
    assert.deepEqual(totals.get('0:2'), { bytes: 4, sha: sha(bad) });
    assert.deepEqual(totals.get('-1:3'), { bytes: 8, sha: sha(Buffer.from('pulling\n')) });
    assert.deepEqual(enc.encode({ type: 'output', index: 0, stream: 'stdout', data: bad }), [], 'nothing after the job end');
    assert.equal(enc.eventCount, 5);
  });
});

describe('Batcher', () => {
  test('cuts at 64 KiB of data, merges a stream\'s consecutive chunks, and flushes a lone entry after the delay', async () => {
    const batches: OutputEntry[][] = [];
    const batcher = new Batcher({ onBatch: (b) => batches.push(b), delayMs: 5 });
    const enc = new EntryEncoder();
    const data = randomBytes(150 * 1024);
    // 150 KiB in 1 KiB writes, as a busy step produces them
    for (let at = 0; at < data.length; at += 1024) for (const e of enc.encode({ type: 'output', index: 0, stream: 'stdout', data: data.subarray(at, at + 1024) })) batcher.add(e);
    assert.equal(batches.length, 2, 'two full batches cut by size, no timer needed');
    for (const b of batches) {
      assert.equal(b.length, 1, 'merged into one chunk');
      assert.equal((b[0] as ChunkEntry).data.length, 64 * 1024);
    }
    const t0 = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(batches.length, 3, 'the rest left after the delay');
    assert.ok(Date.now() - t0 < 1000);
    const all = Buffer.concat(batches.flat().map((e) => (e as ChunkEntry).data));
    assert.equal(sha(all), sha(data));
    // an event between chunks ends the merge; order is kept
    for (const e of enc.encode({ type: 'output', index: 0, stream: 'stdout', data: Buffer.from('a') })) batcher.add(e);
    for (const e of enc.encode({ type: 'step-end', index: 0, status: 'success', durationMs: 1 })) batcher.add(e);
    for (const e of enc.encode({ type: 'output', index: 1, stream: 'stdout', data: Buffer.from('b') })) batcher.add(e);
    batcher.flush();
    assert.deepEqual(batches[3].map((e) => e.kind), ['chunk', 'step-finished', 'chunk']);
  });
});

describe('Spool', () => {
  test('round trip of chunks (exact bytes) and events, across segments; release deletes only stored segments', async () => {
    const spool = new Spool({ segmentBytes: 100 * 1024 });
    try {
      const enc = new EntryEncoder();
      const written: OutputEntry[] = [];
      for (let i = 0; i < 20; i++) {
        const batch = [
          ...enc.encode({ type: 'step-start', index: i, name: `step ${i} ✓`, stepType: 'run', time: i, background: false }),
          ...enc.encode({ type: 'output', index: i, stream: 'stdout', data: randomBytes(30_000) }),
        ];
        spool.append(batch);
        written.push(...batch);
      }
      const finished = enc.encode({ type: 'job-end', status: 'success', durationMs: 1 });
      spool.append(finished);
      written.push(...finished);
      const segments = readdirSync(spool.dir).length;
      assert.ok(segments >= 5, `several segments (${segments})`);
      const cursor = spool.cursor();
      const read = await readAll(spool, cursor);
      assert.equal(await spool.read(cursor), 'wait', 'not ended yet: the reader waits');
      assert.deepEqual(read, written);
      // the processor stored steps 0..9 and events below 10
      const stored: StoredState = { offsets: new Map(Array.from({ length: 10 }, (_, i) => [streamKey(i, 1), 30_000])), nextSeq: 10 };
      spool.release(stored);
      const left = readdirSync(spool.dir).length;
      assert.ok(left < segments && left > 0, `released some segments (${segments} → ${left})`);
      // a new cursor (a reconnect) starts at the oldest segment kept and finds everything not stored
      const again = await readAll(spool, spool.cursor());
      const missing = unstored(again, stored);
      assert.deepEqual(missing, written.filter((e) => (e.kind === 'chunk' ? e.step >= 10 : e.seq >= 10)));
      // an old cursor inside a released segment moves on
      const old: SpoolCursor = { segmentId: 0, position: 5 };
      assert.ok((await readAll(spool, old)).length > 0);
      await spool.closeCursor(old);
      spool.end();
      await readAll(spool, cursor);
      assert.equal(await spool.read(cursor), 'end');
      spool.release({ offsets: new Map(Array.from({ length: 20 }, (_, i) => [streamKey(i, 1), 30_000])), nextSeq: 21 });
      assert.equal(readdirSync(spool.dir).length, 0, 'everything stored: nothing kept');
      await spool.closeCursor(cursor);
    } finally {
      spool.dispose();
    }
    assert.equal(existsSync(spool.dir), false);
  });

  test('a reader waiting for data wakes on append and on end', async () => {
    const spool = new Spool();
    try {
      const cursor = spool.cursor();
      assert.equal(await spool.read(cursor), 'wait');
      const woke = spool.appended(spool.version);
      spool.append([{ kind: 'chunk', step: 0, stream: 1, offset: 0, data: Buffer.from('x') }]);
      await woke;
      assert.equal((await readAll(spool, cursor)).length, 1);
      const ended = spool.appended(spool.version);
      spool.end();
      await ended;
      assert.equal(await spool.read(cursor), 'end');
      await spool.closeCursor(cursor);
    } finally {
      spool.dispose();
    }
  });

  test('a reader that found nothing is woken by what came before it began to wait', async () => {
    const spool = new Spool();
    try {
      const cursor = spool.cursor();
      const seen = spool.version;
      assert.equal(await spool.read(cursor), 'wait');
      // appended and ended while the read's answer was on its way: nobody was waiting yet
      spool.append([{ kind: 'chunk', step: 0, stream: 1, offset: 0, data: Buffer.from('x') }]);
      spool.end();
      const woke = await Promise.race([spool.appended(seen).then(() => 'woken'), new Promise((r) => setTimeout(() => r('still waiting'), 1000))]);
      assert.equal(woke, 'woken');
      assert.equal((await readAll(spool, cursor)).length, 1);
      assert.equal(await spool.read(cursor), 'end');
      await spool.closeCursor(cursor);
    } finally {
      spool.dispose();
    }
  });
});

describe('delivery', () => {
  test('unstored cuts a chunk at the stored offset and drops stored events; stored state only grows', () => {
    const stored: StoredState = { offsets: new Map([['0:1', 5]]), nextSeq: 2 };
    const batch: OutputEntry[] = [
      { kind: 'chunk', step: 0, stream: 1, offset: 0, data: Buffer.from('abc') },
      { kind: 'chunk', step: 0, stream: 1, offset: 3, data: Buffer.from('defgh') },
      { kind: 'step-finished', seq: 1, step: 0, status: 'success', durationMs: 1, message: '' },
      { kind: 'step-finished', seq: 2, step: 1, status: 'success', durationMs: 1, message: '' },
      { kind: 'chunk', step: 1, stream: 1, offset: 0, data: Buffer.from('z') },
    ];
    const out = unstored(batch, stored);
    assert.equal(out.length, 3);
    assert.deepEqual(out[0], { kind: 'chunk', step: 0, stream: 1, offset: 5, data: Buffer.from('fgh') });
    assert.equal(out[1].kind === 'step-finished' && out[1].seq, 2);
    advanceStored(stored, { offsets: new Map([['0:1', 3], ['1:1', 1]]), nextSeq: 1 });
    assert.deepEqual([...stored.offsets], [['0:1', 5], ['1:1', 1]]);
    assert.equal(stored.nextSeq, 2);
  });

  test('the report names what is missing, or says delivered and verified', () => {
    const base = { target: 'h:1', jobId: 'J', totalBytes: 3 * 1024 * 1024, totalEvents: 10, waitedMs: 2000, deadlineMs: 2000 };
    assert.match(formatDeliveryReport({ ...base, complete: true, verified: true, undeliveredBytes: 0, undeliveredEvents: 0 }), /delivered and verified: job J at h:1 \(3\.0 MiB, 10 events\)/);
    assert.match(
      formatDeliveryReport({ ...base, complete: false, verified: false, undeliveredBytes: 1024 * 1024, undeliveredEvents: 4, lastError: 'UNAVAILABLE: x' }),
      /NOT fully delivered: job J at h:1: 1\.0 MiB of 3\.0 MiB and 4 of 10 events not delivered after waiting 2\.0s \(deadline 2s\); last error: UNAVAILABLE: x/,
    );
  });
});
