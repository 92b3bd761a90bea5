/**
 * `deckhand execute --output-processor` against a processor that cannot store, and one that
 * refuses the job's id: the real CLI runs a real job in Docker (busybox), the real processor runs
 * as a child process.
 *
 * - Full disk: the processor's data directory is a 8 MiB tmpfs that the test fills to the last
 *   byte while the job's step is writing. The agent must say so once (not once per retry), back
 *   off (attempts counted in the processor's log), give up at its deadline and exit 2; the
 *   processor must mark the job incomplete with the agent's reason, keep what it stored intact,
 *   answer `/health-check` 503 while full and 200 once there is room, and then save the record.
 * - A finished job's id streamed again: refused at once with a clear reason, no step runs, exit 2.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUSYBOX, executeAsync, job, project } from '../../support/execute.js';
import { ProcessorProcess } from '../../support/processor-process.js';
import { SmallDisk } from '../../support/small-disk.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `executeAsync`, with when it started and ended (a refusal must not wait out the deadline). */
async function timedExecute(dir: string, args: string[]) {
  const startedAt = Date.now();
  const r = await executeAsync(dir, args);
  return { ...r, startedAt, endedAt: Date.now() };
}

async function healthStatus(p: ProcessorProcess): Promise<number> {
  return (await fetch(`${p.http}/health-check`)).status;
}

/** Polls until `check` holds (or `ms` passed); returns whether it did. */
async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(200);
  }
}

describe('output delivery when the processor cannot store or refuses the job id', { timeout: 300_000 }, () => {
  test('a full disk at the processor: reported once, backed off, given up at the deadline with exit 2; the job marked incomplete; health 503, then 200 once freed', async (t) => {
    const disk = SmallDisk.mount(8);
    let processor: ProcessorProcess | undefined;
    try {
      processor = await ProcessorProcess.start({ data: disk.dir });
      const p = processor;
      const pad = 'x'.repeat(200);
      const lines = 150; // 15 s of output, a line every 0.1 s
      const expected = Buffer.from(Array.from({ length: lines }, (_, i) => `line ${i} ${pad}\n`).join(''));
      const dir = project(job(BUSYBOX, `      - run: i=0; while [ $i -lt ${lines} ]; do echo "line $i ${pad}"; i=$((i+1)); sleep 0.1; done`));
      const jobId = `full-disk-${Date.now()}`;
      const run = timedExecute(dir, ['--output-processor', p.target, '--job-id', jobId, '--output-token', p.token(jobId), '--output-deadline', '4', '--output-url', p.http]);

      // the step is writing and the processor storing: now the disk fills up
      const storing = await until(async () => {
        const r = await fetch(`${p.http}/api/jobs/${jobId}`);
        if (r.status !== 200) return false;
        const j = (await r.json()) as { steps: { index: number; bytes: { stdout?: number } }[] };
        return (j.steps.find((s) => s.index === 0)?.bytes.stdout ?? 0) > 2000;
      }, 90_000);
      assert.ok(storing, `the processor never stored the step's output: ${p.log.slice(-2000)}`);
      disk.fill();
      const filledAt = Date.now();
      assert.ok(await until(async () => (await healthStatus(p)) === 503, 5000), 'health-check did not turn 503 on a full disk');

      const r = await run;
      const window = (r.endedAt - filledAt) / 1000;
      assert.equal(r.code, 2, `${r.out.slice(-1500)}\n${r.err}`);
      assert.match(r.out, /Success!/, 'the job itself passed');
      assert.match(r.out, new RegExp(`Output: ${p.http}/jobs/${jobId} \\(NOT fully delivered\\)`));

      // the agent says it once, whatever the number of retries
      const said = r.err.split('\n').filter((l) => /^deckhand: output processor .* cannot store job/.test(l));
      assert.equal(said.length, 1, r.err);
      assert.match(
        said[0],
        new RegExp(`^deckhand: output processor 127\\.0\\.0\\.1:\\d+ cannot store job ${jobId} \\(RESOURCE_EXHAUSTED: the output processor cannot store job ${jobId}: its data directory is full \\(ENOSPC\\); keep the output and retry later\\); output is kept in the spool and resent with backoff$`),
      );
      assert.doesNotMatch(r.err, /unreachable|is back/, 'a full disk is not an outage');
      assert.match(r.err, new RegExp(`output NOT fully delivered: job ${jobId} at 127\\.0\\.0\\.1:\\d+: .* not delivered after waiting 4\\.\\ds \\(deadline 4s\\); last error: RESOURCE_EXHAUSTED: `));

      // backoff: attempts after the disk filled, counted by the processor
      const log = p.logLines();
      const attempts = log.filter((l) => l.msg === 'stream opened' && l.job === jobId && Date.parse(String(l.time)) >= filledAt).length;
      t.diagnostic(`${attempts} attempts in ${window.toFixed(1)} s after the disk filled`);
      assert.ok(attempts >= 3, `only ${attempts} attempts in ${window.toFixed(1)} s: the agent stopped retrying`);
      assert.ok(attempts <= 12, `${attempts} attempts in ${window.toFixed(1)} s: no backoff`);
      const errors = log.filter((l) => l.msg === 'cannot store' && l.job === jobId);
      assert.equal(errors.length, 1, 'the processor logs the failure once');
      assert.equal(errors[0].level, 'error');

      // the processor knows the job is incomplete, and why (held in memory: the disk is full)
      const j = await p.job(jobId);
      const finished = j.finished as { status: string; message: string; abandoned: string };
      assert.equal(j.status, 'incomplete');
      assert.equal(finished.abandoned, 'agent');
      assert.equal(finished.status, 'success');
      assert.match(finished.message, /^the agent gave up delivering: .* not delivered after waiting 4\.\ds \(deadline 4s\); last error: RESOURCE_EXHAUSTED: .*full \(ENOSPC\)/);
      // what was stored before the disk filled is intact: a prefix of the step's output, nothing garbled
      const stored = await p.output(jobId, 0);
      assert.ok(stored.length > 2000 && stored.length < expected.length, `${stored.length} bytes stored`);
      assert.ok(expected.subarray(0, stored.length).equals(stored), 'the stored bytes are not the start of the output');

      disk.free();
      assert.ok(await until(async () => (await healthStatus(p)) === 200, 5000), 'health-check did not turn 200 once there was room');
      const metaFile = join(disk.dir, 'jobs', jobId, 'meta.json');
      assert.ok(
        await until(async () => (JSON.parse(readFileSync(metaFile, 'utf8')) as { status: string }).status === 'incomplete', 10_000),
        'the held verdict was not saved once there was room',
      );
    } finally {
      await processor?.stop();
      disk.unmount();
    }
  });

  describe('a job id used again', () => {
    let processor: ProcessorProcess;
    before(async () => {
      processor = await ProcessorProcess.start();
    });
    after(async () => {
      await processor?.stop();
    });

    test('a finished job\'s id streamed again is refused at once: the reason said, no step run, exit 2; the first run\'s output kept', async () => {
      const jobId = `reused-${Date.now()}`;
      const first = await timedExecute(project(job(BUSYBOX, '      - run: echo first run')), ['--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId)]);
      assert.equal(first.code, 0, first.err);
      assert.match(first.out, /delivered and verified/);

      const dir = project(job(BUSYBOX, "      - run: printf 'second%s\\n' -run-step"));
      const again = await timedExecute(dir, ['--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId), '--output-deadline', '60']);
      assert.equal(again.code, 2, again.err);
      assert.doesNotMatch(again.out, /second-run-step/, 'no step ran');
      const reason = `job ${jobId} already finished at [0-9T:.Z-]+ \\(complete\\) and is another run's: a job id names one run of a job; stream this run under a new job id`;
      assert.match(again.out, new RegExp(`output processor 127\\.0\\.0\\.1:\\d+ refused job ${jobId}: ALREADY_EXISTS: ${reason}`), 'spin-up fails with the reason');
      assert.match(again.err, new RegExp(`refused job ${jobId}: ALREADY_EXISTS: ${reason}; output will not be delivered`));
      assert.ok(again.endedAt - again.startedAt < 30_000, `took ${again.endedAt - again.startedAt} ms: the deadline (60 s) was waited out`);
      assert.equal((await processor.output(jobId, 0)).toString(), 'first run\n');
      assert.equal((await processor.job(jobId)).status, 'complete');
    });
  });
});
