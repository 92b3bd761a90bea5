import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobEvent, OutputSink } from '../../agent/output/events.js';
import { MASK } from '../../agent/output/masker.js';
import { FanOutSink, MaskingSink } from '../../agent/output/masking-sink.js';

/** A sink that records what reaches it (a real OutputSink, just with memory as its medium). */
class RecordingSink implements OutputSink {
  readonly events: JobEvent[] = [];
  closed = 0;
  event(e: JobEvent): void {
    this.events.push(e);
  }
  async close(): Promise<void> {
    this.closed++;
  }
  /** the bytes of one (step, stream), joined */
  bytes(index: number, stream: string): string {
    return Buffer.concat(
      this.events.flatMap((e) => (e.type === 'output' && e.index === index && e.stream === stream ? [e.data] : [])),
    ).toString();
  }
}

const out = (index: number, stream: 'stdout' | 'stderr' | 'agent', text: string): JobEvent => ({
  type: 'output',
  index,
  stream,
  data: Buffer.from(text),
});
const start = (index: number, background = false): JobEvent => ({
  type: 'step-start',
  index,
  name: `step ${index}`,
  stepType: 'run',
  time: 0,
  background,
});
const end = (index: number): JobEvent => ({ type: 'step-end', index, status: 'success', exitCode: 0, durationMs: 1 });

describe('MaskingSink', () => {
  it('masks the environment listing values', () => {
    const rec = new RecordingSink();
    const sink = new MaskingSink(['s3cr3t-token', 'yes'], rec);
    sink.event({
      type: 'job-start',
      job: 'build',
      time: 0,
      environment: { TOKEN: 's3cr3t-token', URL: 'https://x:s3cr3t-token@host', FLAG: 'yes', CI: 'true' },
    });
    const e = rec.events[0];
    assert.equal(e.type, 'job-start');
    assert.deepEqual(e.type === 'job-start' && e.environment, {
      TOKEN: MASK,
      URL: `https://x:${MASK}@host`,
      FLAG: 'yes',
      CI: 'true',
    });
  });

  it('keeps a background step’s split secret apart from later steps and flushes it on its own step-end', async () => {
    const rec = new RecordingSink();
    const sink = new MaskingSink(['PASSWORD123'], rec);
    sink.event(start(0, true));
    sink.event(out(0, 'stdout', 'bg says PASS'));
    sink.event(start(1));
    sink.event(out(1, 'stdout', 'fg PASSWO'));
    sink.event(out(0, 'stdout', 'WORD123 and PASSW'));
    sink.event(out(1, 'stderr', 'err PASSWORD123\n'));
    sink.event(out(1, 'stdout', 'RD12'));
    sink.event(end(1));
    // step 1's held-back stdout bytes came out before its step-end; step 0 still holds "PASSW"
    const end1 = rec.events.findIndex((e) => e.type === 'step-end' && e.index === 1);
    assert.equal(rec.bytes(1, 'stdout'), 'fg PASSWORD12');
    assert.ok(rec.events.slice(end1 + 1).every((e) => e.type !== 'output'));
    assert.equal(rec.bytes(1, 'stderr'), `err ${MASK}\n`);
    assert.equal(rec.bytes(0, 'stdout'), `bg says ${MASK} and `);
    sink.event(out(0, 'stdout', 'ORD123!'));
    sink.event(out(0, 'stdout', ' tail PASS'));
    sink.event(end(0));
    assert.equal(rec.bytes(0, 'stdout'), `bg says ${MASK} and ${MASK}! tail PASS`);
    const last = rec.events.at(-1);
    assert.equal(last?.type === 'step-end' && last.index, 0);
    await sink.close();
    assert.equal(rec.closed, 1);
  });

  it('does not mask a secret whose halves are on different streams, but masks each stream wholly', () => {
    const rec = new RecordingSink();
    const sink = new MaskingSink(['abcdefgh'], rec);
    sink.event(out(2, 'stdout', 'abcd'));
    sink.event(out(2, 'stderr', 'efgh'));
    sink.event(out(2, 'agent', '#!/bin/bash -eo pipefail\necho abcdefgh\n'));
    sink.event(end(2));
    assert.equal(rec.bytes(2, 'stdout'), 'abcd');
    assert.equal(rec.bytes(2, 'stderr'), 'efgh');
    assert.equal(rec.bytes(2, 'agent'), `#!/bin/bash -eo pipefail\necho ${MASK}\n`);
  });

  it('flushes steps that never ended before job-end, and forwards to every downstream sink', async () => {
    const a = new RecordingSink();
    const b = new RecordingSink();
    const sink = new MaskingSink(['zzzzzz'], [a, new FanOutSink([b])]);
    sink.event(start(0, true));
    sink.event(out(0, 'stdout', 'ends with zzz'));
    sink.event({ type: 'job-end', status: 'success', durationMs: 5 });
    for (const rec of [a, b]) {
      assert.equal(rec.bytes(0, 'stdout'), 'ends with zzz');
      assert.equal(rec.events.at(-1)?.type, 'job-end');
    }
    await sink.close();
    assert.equal(a.closed + b.closed, 2);
  });

  it('never forwards empty output events', () => {
    const rec = new RecordingSink();
    const sink = new MaskingSink(['qwertyuiop'], rec);
    sink.event(out(0, 'stdout', 'qwe'));
    sink.event(out(0, 'stdout', 'rty'));
    assert.equal(rec.events.length, 0);
  });
});
