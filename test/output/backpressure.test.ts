/**
 * A reader slower than the step: the sinks that write to stdout report no room once
 * BACKLOG_LIMIT_BYTES are queued, and the step's command is held back until the reader catches
 * up, so the agent's memory does not grow with the output. The end-to-end case runs the real CLI
 * on a real job in Docker writing 300 MB into a pipe read at a few MB/s.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { BACKLOG_LIMIT_BYTES } from '../../agent/output/backpressure.js';
import { MaskingSink } from '../../agent/output/masking-sink.js';
import { NdjsonSink } from '../../agent/output/ndjson.js';
import { TerminalSink } from '../../agent/output/terminal.js';
import { BUSYBOX, deckhandBin, job, project } from '../support/execute.js';
import { watchPeakMemory } from '../support/peak-memory.js';

/** A writable whose reader takes one chunk per `release()` call. */
function heldWritable(): { stream: Writable; release: () => void } {
  const waiting: (() => void)[] = [];
  const stream = new Writable({
    highWaterMark: 16 * 1024,
    write(_chunk, _enc, done) {
      waiting.push(done);
    },
  });
  return { stream, release: () => waiting.splice(0).forEach((done) => done()) };
}

describe('backpressure from slow readers', () => {
  for (const [name, make] of [
    ['terminal', (s: Writable) => new TerminalSink({ stream: s, color: false })],
    ['NDJSON', (s: Writable) => new NdjsonSink(s)],
  ] as const) {
    test(`${name}: room while under the limit, a wait above it that ends when the reader catches up (through masking)`, async () => {
      const { stream, release } = heldWritable();
      const sink = new MaskingSink(['hunter2'], [make(stream)]);
      sink.event({ type: 'step-start', index: 0, name: 'run', stepType: 'run', time: 0, background: false });
      sink.event({ type: 'output', index: 0, stream: 'stdout', data: Buffer.alloc(1024, 0x61) });
      assert.equal(sink.room(), undefined, 'a little queued output leaves room');
      for (let sent = 0; sent <= BACKLOG_LIMIT_BYTES; sent += 256 * 1024) {
        sink.event({ type: 'output', index: 0, stream: 'stdout', data: Buffer.alloc(256 * 1024, 0x61) });
      }
      const wait = sink.room();
      assert.ok(wait, `no room once more than ${BACKLOG_LIMIT_BYTES} bytes are queued`);
      let resolved = false;
      void wait.then(() => (resolved = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(resolved, false, 'still waiting while the reader reads nothing');
      while (stream.writableLength > 0) {
        release();
        await new Promise((r) => setImmediate(r));
      }
      await wait;
      assert.equal(sink.room(), undefined);
    });
  }

  // a 3-minute limit: a held-back step once left a 10-minute no_output_timeout timer armed behind it
  test('a real job writing 300 MB into a pipe read at a few MB/s: every byte arrives, in order, the agent stays under 200 MB and exits', { timeout: 180_000 }, async () => {
    const bytes = 300 * 1024 * 1024;
    const dir = project(job(BUSYBOX, `      - run: yes "a line of build output, the kind a compiler prints all day" | head -c ${bytes} || true`));
    const child = spawn(process.execPath, [deckhandBin, 'execute', '--no-color', '--skip-checkout'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const peak = watchPeakMemory(child.pid ?? 0);
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // read 64 KiB, then nothing for 5 ms: ~12 MB/s, slower than the container writes
    let received = 0;
    let tail = '';
    child.stdout.pause();
    const reading = (async () => {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        received += chunk.length;
        tail = (tail + chunk.toString('latin1')).slice(-4096);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    await reading;
    const peakKb = peak.stop();
    assert.equal(code, 0, err);
    // the step's last bytes come before the job's end, not after it (the command exits while they wait)
    assert.match(tail, /a line of build output[^\n]*\n(?:Took [^\n]*\n)?Success!/);
    assert.ok(received > bytes, `the whole output came through the pipe (${received} bytes)`);
    assert.ok(peakKb < 200 * 1024, `agent peak RSS ${Math.round(peakKb / 1024)} MB (before the fix: about 265 MB for 300 MB)`);
  });
});
