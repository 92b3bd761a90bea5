/**
 * Output streaming under faults, against the real output processor run as a child process:
 * killed with SIGKILL and restarted (same data folder, same port) three times while a real
 * job's step writes 50 MB, then frozen with SIGSTOP for 10 s. The stored log must be identical
 * (no byte lost, none duplicated), the job's exit code unaffected, and the agent's memory bounded.
 * A second test freezes the processor under a sink with short keepalives: the agent must notice
 * the frozen peer, keep the job's events flowing without blocking, and deliver everything after.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GrpcOutputSink } from '../../../agent/output/stream/grpc-sink.js';
import { BUSYBOX, deckhandBin, job, project } from '../../support/execute.js';
import { watchPeakMemory } from '../../support/peak-memory.js';
import { ProcessorProcess, seqBytes, sha256 } from '../../support/processor-process.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('output streaming under processor faults', { timeout: 300_000 }, () => {
  let processor: ProcessorProcess;
  before(async () => {
    processor = await ProcessorProcess.start();
  });
  after(async () => {
    await processor?.stop();
  });

  test('kill -9 and restart three times, then SIGSTOP for 10 s, while a step writes 50 MB: stored log identical, exit code 0, agent RSS under 200 MB', async (t) => {
    const per = 134_000;
    const rounds = 50; // 6.7 M numbers: 52.5 MB, paced over ~20 s so the faults land mid-step
    const head = Buffer.from([0xff, 0xfe, 0x0a]);
    const expected = Buffer.concat([head, seqBytes(per * rounds)]);
    const script = `printf '\\377\\376\\n'; i=0; while [ $i -lt ${rounds} ]; do seq $((i*${per}+1)) $(((i+1)*${per})); i=$((i+1)); sleep 0.35; done`;
    const dir = project(job(BUSYBOX, `      - run: ${JSON.stringify(script)}`));
    const jobId = `faults-${Date.now()}`;
    const child = spawn(
      process.execPath,
      [deckhandBin, 'execute', '--no-color', '--log-file', join(dir, 'job.log'), '--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId), '--output-deadline', '120'],
      { cwd: dir, env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } },
    );
    const rss = watchPeakMemory(child.pid as number);
    let tail = '';
    let err = '';
    let started: () => void = () => undefined;
    const outputSeen = new Promise<void>((resolve) => (started = resolve));
    let seen = 0;
    child.stdout.on('data', (d: Buffer) => {
      tail = (tail + d.toString('latin1')).slice(-4000);
      seen += d.length;
      // past the job's preamble: the step is writing
      if (seen > 256 * 1024) started();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    const first = await Promise.race([outputSeen.then(() => 'output' as const), exited.then(() => 'exited' as const)]);
    assert.equal(first, 'output', `the job ended before its output began: ${tail.slice(-1000)}\n${err}`);
    const t0 = Date.now();
    for (let k = 0; k < 3; k++) {
      await sleep(2000);
      await processor.kill();
      await sleep(700);
      await processor.restart();
    }
    await sleep(500);
    processor.signal('SIGSTOP');
    await sleep(10_000);
    processor.signal('SIGCONT');
    const faultsTook = Date.now() - t0;
    const code = await exited;
    const peakKb = rss.stop();

    assert.equal(code, 0, err);
    assert.ok(!/Exited with code/.test(tail), 'the step was not disturbed');
    assert.match(tail, new RegExp(`Output: job ${jobId} at output processor ${processor.target.replace(/\./g, '\\.')} \\(delivered and verified\\)`), `${tail.slice(-500)}\n${err}`);
    // the faults happened while the step was writing (it writes for ~20 s)
    assert.ok(faultsTook > 15_000, `faults spanned ${faultsTook} ms`);
    assert.match(err, /unreachable/, 'the agent noticed the processor was gone');
    const stored = await processor.output(jobId, 0);
    assert.equal(stored.length, expected.length, 'same byte count: nothing lost, nothing duplicated');
    assert.equal(sha256(stored), sha256(expected));
    assert.ok(peakKb > 0 && peakKb < 200 * 1024, `agent peak RSS ${Math.round(peakKb / 1024)} MB, limit 200 MB`);
    t.diagnostic(`agent peak RSS ${Math.round(peakKb / 1024)} MB; outages reported: ${(err.match(/unreachable/g) ?? []).length}; faults spanned ${faultsTook} ms`);
  });

  test('a frozen processor is noticed by keepalive; events never block; everything arrives after SIGCONT', async () => {
    const jobId = `frozen-${Date.now()}`;
    const news: string[] = [];
    const sink = new GrpcOutputSink({
      target: processor.target,
      jobId,
      token: processor.token(jobId),
      stepCount: 1,
      jobName: 'frozen',
      deadlineMs: 60_000,
      keepaliveMs: 1000,
      keepaliveTimeoutMs: 1000,
      handshakeTimeoutMs: 2000,
      log: (line) => news.push(line),
    });
    const data = seqBytes(1_200_000); // 8.3 MB
    const piece = 32 * 1024;
    const feed = (from: number, to: number): number => {
      const t = process.hrtime.bigint();
      for (let at = from; at < to; at += piece) sink.event({ type: 'output', index: 0, stream: 'stdout', data: data.subarray(at, Math.min(to, at + piece)) });
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    sink.event({ type: 'job-start', job: 'frozen', time: Date.now(), environment: { CI: 'true' } });
    sink.event({ type: 'step-start', index: 0, name: 'write', stepType: 'run', time: Date.now(), background: false });
    const half = Math.floor(data.length / 2);
    feed(0, half);
    await sleep(500);
    processor.signal('SIGSTOP');
    try {
      const tookMs = feed(half, data.length);
      assert.ok(tookMs < 2000, `4 MB of events took ${tookMs} ms with the processor frozen`);
      // keepalive (1 s + 1 s) must notice; the handshake deadline keeps reconnects from hanging
      for (let i = 0; i < 80 && !news.some((l) => /unreachable/.test(l)); i++) await sleep(100);
      assert.ok(news.some((l) => /unreachable/.test(l)), `frozen peer not noticed: ${news.join(' | ')}`);
    } finally {
      processor.signal('SIGCONT');
    }
    sink.event({ type: 'step-end', index: 0, status: 'success', exitCode: 0, durationMs: 1 });
    sink.event({ type: 'job-end', status: 'success', durationMs: 2 });
    await sink.close();
    const report = sink.report();
    assert.ok(report?.complete && report.verified, JSON.stringify(report));
    assert.equal(report.undeliveredBytes, 0);
    assert.ok(news.some((l) => /is back/.test(l)), news.join(' | '));
    const stored = await processor.output(jobId, 0);
    assert.equal(sha256(stored), sha256(data));
  });
});
