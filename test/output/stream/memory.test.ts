/**
 * The agent's memory while streaming a burst: a real job in Docker writes 200 MB as fast as
 * busybox can (`yes | head -c`), `deckhand execute --output-processor` streams it to the real
 * processor (a child process), and the agent's peak resident memory (VmHWM of the execute
 * process) must stay under 200 MB — plain execute's target in bench/execute.ts — while the
 * stored output stays byte-identical (SHA-256 over the processor's HTTP API). A second run freezes
 * the processor mid-burst, so the agent spools, then catches up over one long-lived stream: the
 * case that kept every spool read in memory until the stream ended (about 340 MB before the fix).
 * A third run has no processor at all: the whole burst stays in the spool on disk, not in memory.
 *
 * The agent's stdout goes to a file, as bench/execute.ts sends it to /dev/null, so that
 * only the streaming is measured (a slow stdout pipe is test/output/backpressure.test.ts's case).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUSYBOX, deckhandBin, job, project } from '../../support/execute.js';
import { watchPeakMemory } from '../../support/peak-memory.js';
import { freePort } from '../../support/free-port.js';
import { ProcessorProcess } from '../../support/processor-process.js';

const LINE = 'a line of build output, the kind a compiler or test runner prints all day';
const PEAK_LIMIT_KB = 200 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SHA-256 of what `yes LINE | head -c bytes` prints, without holding it in memory. */
function expectedSha(bytes: number): string {
  const block = Buffer.from(`${LINE}\n`.repeat(Math.ceil((1024 * 1024) / (LINE.length + 1))));
  const hash = createHash('sha256');
  let left = bytes;
  while (left >= block.length) {
    hash.update(block);
    left -= block.length;
  }
  hash.update(block.subarray(0, left));
  return hash.digest('hex');
}

/** Byte count and SHA-256 of a job's stored step-0 stdout, streamed from the processor's HTTP API. */
async function storedSha(processor: ProcessorProcess, jobId: string): Promise<{ bytes: number; sha: string }> {
  const res = await fetch(`${processor.http}/api/jobs/${encodeURIComponent(jobId)}/steps/0/output?stream=stdout`);
  assert.equal(res.status, 200, `GET output of ${jobId}: HTTP ${res.status}`);
  assert.ok(res.body, 'the output response has a body');
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of res.body as AsyncIterable<Uint8Array>) {
    hash.update(piece);
    bytes += piece.length;
  }
  return { bytes, sha: hash.digest('hex') };
}

interface Burst {
  code: number | null;
  peakKb: number;
  out: string;
  err: string;
  ms: number;
}

/**
 * Runs a job whose one step writes `bytes` at once; `whileWriting` runs once the step's output is
 * flowing. `target` replaces the processor's address (to stream to nowhere).
 */
async function burst(processor: ProcessorProcess, jobId: string, bytes: number, options: { whileWriting?: () => Promise<void>; target?: string; deadline?: string } = {}): Promise<Burst> {
  const { whileWriting, target = processor.target, deadline = '120' } = options;
  // `yes` ends on SIGPIPE when head has enough, which pipefail would count as a failure
  const dir = project(job(BUSYBOX, `      - run: ${JSON.stringify(`set +o pipefail; yes '${LINE}' | head -c ${bytes}`)}`));
  const outFile = join(dir, 'stdout.txt');
  const stdout = openSync(outFile, 'w');
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [deckhandBin, 'execute', '--no-color', '--log-file', join(dir, 'job.log'), '--output-processor', target, '--job-id', jobId, '--output-token', processor.token(jobId), '--output-deadline', deadline],
    { cwd: dir, env: { ...process.env, DECKHAND_HOME: join(dir, '.home') }, stdio: ['ignore', stdout, 'pipe'] },
  );
  closeSync(stdout);
  const peak = watchPeakMemory(child.pid as number);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  if (whileWriting) {
    let flowing = false;
    for (let i = 0; i < 600 && !flowing && child.exitCode === null; i++) {
      await sleep(50);
      flowing = statSync(outFile).size > 8 * 1024 * 1024;
    }
    assert.ok(flowing, `the step's output never started flowing: ${err}`);
    await whileWriting();
  }
  const code = await exited;
  const peakKb = peak.stop();
  const ms = Date.now() - started;
  // the end of stdout (the job's last lines and the Output line); then free the disk: stdout and
  // the log file hold the whole burst each
  const fd = openSync(outFile, 'r');
  const size = fstatSync(fd).size;
  const tail = Buffer.alloc(Math.min(size, 4000));
  readSync(fd, tail, 0, tail.length, size - tail.length);
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return { code, peakKb, out: tail.toString('latin1'), err, ms };
}

describe('agent memory while streaming a burst', { timeout: 120_000 }, () => {
  let processor: ProcessorProcess;
  before(async () => {
    processor = await ProcessorProcess.start();
  });
  after(async () => {
    processor?.signal('SIGCONT');
    await processor?.stop();
  });

  test('200 MB at full speed to a live processor: agent peak RSS under 200 MB, stored output byte-identical', async (t) => {
    const bytes = 200_000_000;
    const jobId = `burst-${Date.now()}`;
    const r = await burst(processor, jobId, bytes);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`Output: job ${jobId} at output processor .* \\(delivered and verified\\)`), `${r.out.slice(-500)}\n${r.err}`);
    const stored = await storedSha(processor, jobId);
    assert.equal(stored.bytes, bytes, 'same byte count: nothing lost, nothing duplicated');
    assert.equal(stored.sha, expectedSha(bytes));
    t.diagnostic(`agent peak RSS (VmHWM) ${(r.peakKb / 1024).toFixed(1)} MB; ${(bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s end to end`);
    assert.ok(r.peakKb > 0, 'VmHWM was read');
    assert.ok(r.peakKb < PEAK_LIMIT_KB, `agent peak RSS ${(r.peakKb / 1024).toFixed(1)} MB, limit 200 MB`);
  });

  test('150 MB with the processor frozen for 4 s mid-burst, then catching up: agent peak RSS under 200 MB, stored output byte-identical', async (t) => {
    const bytes = 150_000_000;
    const jobId = `burst-frozen-${Date.now()}`;
    const r = await burst(processor, jobId, bytes, {
      whileWriting: async () => {
        processor.signal('SIGSTOP');
        try {
          await sleep(4000);
        } finally {
          processor.signal('SIGCONT');
        }
      },
    });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\(delivered and verified\)/, `${r.out.slice(-500)}\n${r.err}`);
    const stored = await storedSha(processor, jobId);
    assert.equal(stored.bytes, bytes, 'same byte count: nothing lost, nothing duplicated');
    assert.equal(stored.sha, expectedSha(bytes));
    t.diagnostic(`agent peak RSS (VmHWM) ${(r.peakKb / 1024).toFixed(1)} MB`);
    assert.ok(r.peakKb > 0, 'VmHWM was read');
    assert.ok(r.peakKb < PEAK_LIMIT_KB, `agent peak RSS ${(r.peakKb / 1024).toFixed(1)} MB, limit 200 MB`);
  });

  test('150 MB with no processor at all (everything stays in the spool): agent peak RSS under 200 MB, the report counts every byte as undelivered', async (t) => {
    const bytes = 150_000_000;
    const jobId = `burst-absent-${Date.now()}`;
    const r = await burst(processor, jobId, bytes, { target: `127.0.0.1:${await freePort()}`, deadline: '0' });
    // the job passed, but its output was lost: the exit code says so
    assert.equal(r.code, 2, r.err);
    assert.match(r.out, /\(NOT fully delivered\)/, `${r.out.slice(-500)}\n${r.err}`);
    const missing = /([\d.]+) MiB of ([\d.]+) MiB and (\d+) of (\d+) events not delivered/.exec(r.err);
    assert.ok(missing, r.err);
    assert.equal(missing[1], missing[2], 'none of the output was delivered');
    assert.equal(missing[3], missing[4], 'none of the events was delivered');
    assert.ok(Number(missing[2]) >= bytes / 1024 / 1024, `the report counts ${missing[2]} MiB, the step wrote ${bytes} bytes`);
    t.diagnostic(`agent peak RSS (VmHWM) ${(r.peakKb / 1024).toFixed(1)} MB`);
    assert.ok(r.peakKb > 0, 'VmHWM was read');
    assert.ok(r.peakKb < PEAK_LIMIT_KB, `agent peak RSS ${(r.peakKb / 1024).toFixed(1)} MB, limit 200 MB`);
  });
});
