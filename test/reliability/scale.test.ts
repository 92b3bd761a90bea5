/**
 * Loads a real project would rarely bring, on the project's own 2-core machines: 30 jobs at once
 * in one `deckhand run`, a job of 10,000 steps, a step that writes 50 MB on one line. Each must end
 * as it should, leave nothing behind, and keep the agent's memory bounded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUSYBOX, deckhandBin, job, project } from '../support/execute.js';
import { leftByEndedRuns, newLeftovers } from '../support/leftovers.js';
import { watchPeakMemory } from '../support/peak-memory.js';

/** Runs deckhand in `dir` to its end, with its peak resident memory (KiB). */
function deckhand(dir: string, args: string[]): Promise<{ code: number | null; out: string; err: string; peakKb: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [deckhandBin, ...args, '--no-color'], { cwd: dir, env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    const peak = watchPeakMemory(child.pid ?? 0);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err, peakKb: peak.stop() }));
  });
}

describe('scale', { concurrency: false, timeout: 900_000 }, () => {
  test('30 jobs at once in one deckhand run: all succeed, nothing is left', async () => {
    const before = leftByEndedRuns();
    const jobs = Array.from({ length: 30 }, (_, i) => `  job${i}:\n    docker: [{image: ${BUSYBOX}}]\n    steps:\n      - run: sleep 1; echo done-${i}\n`).join('');
    const names = Array.from({ length: 30 }, (_, i) => `job${i}`).join(', ');
    const dir = project(`version: 2.1\njobs:\n${jobs}workflows:\n  all:\n    jobs: [${names}]\n`);
    const r = await deckhand(dir, ['run', '--max-parallel', '30', '--log-dir', join(dir, 'logs')]);
    assert.equal(r.code, 0, r.out.slice(-3000) + r.err);
    for (let i = 0; i < 30; i++) assert.match(r.out, new RegExp(`\\[job${i}\\]\\s+done-${i}\\n`));
    assert.deepEqual(newLeftovers(before), []);
  });

  test('a machine job of 10,000 steps runs to its end with bounded memory', async () => {
    const steps = Array.from({ length: 10_000 }, (_, i) => `      - run: {name: s${i}, command: "true"}`).join('\n');
    const dir = project(`version: 2.1\njobs:\n  many:\n    machine: true\n    steps:\n${steps}\n      - run: echo all-steps-done\n`);
    const r = await deckhand(dir, ['execute', '--job', 'many', '--log-file', join(dir, 'job.log')]);
    assert.equal(r.code, 0, r.out.slice(-2000) + r.err);
    assert.match(r.out, /\nall-steps-done\n/);
    const log = statSync(join(dir, 'job.log')).size;
    assert.ok(log > 10_000 * 20, `the log holds every step (${log} bytes)`);
    assert.ok(r.peakKb < 300 * 1024, `agent peak RSS ${(r.peakKb / 1024).toFixed(0)} MB for 10,000 steps`);
  });

  test('a step that writes 50 MB on one line: every byte in the log, memory bounded', async () => {
    const dir = project(job(BUSYBOX, "      - run: head -c 50000000 /dev/zero | tr '\\\\0' x; echo"));
    const r = await deckhand(dir, ['execute', '--log-file', join(dir, 'job.log')]);
    assert.equal(r.code, 0, r.err);
    assert.ok(statSync(join(dir, 'job.log')).size > 50_000_000, 'the whole line reached the log');
    assert.ok(r.peakKb < 200 * 1024, `agent peak RSS ${(r.peakKb / 1024).toFixed(0)} MB for a 50 MB line`);
  });
});
