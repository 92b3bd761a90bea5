/** Scheduling, capacity, approvals and the summary as logic: jobs here are timers, not containers. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { askingApprover, fixedApprover } from '../../agent/workflow/approval.js';
import { CapacityPool, machineCapacity } from '../../agent/workflow/capacity.js';
import type { JobRunStatus } from '../../agent/workflow/graph.js';
import { schedule, type SchedulableJob } from '../../agent/workflow/scheduler.js';
import { formatSummary } from '../../agent/workflow/summary.js';
import type { RequiredStatus } from '../../agent/jobspec/jobspec.js';

const SMALL = { cpus: 1, memoryMb: 2048 };
const MEDIUM = { cpus: 2, memoryMb: 4096 };

function job(name: string, requires: Record<string, RequiredStatus[]> | string[] = [], size: SchedulableJob['size'] = SMALL): SchedulableJob {
  const req = Array.isArray(requires) ? Object.fromEntries(requires.map((r) => [r, ['success' as RequiredStatus]])) : requires;
  return size ? { name, requires: req, size } : { name, requires: req };
}

/** Runs jobs as timers; records start order and the most jobs running at once. */
async function simulate(jobs: SchedulableJob[], pool: CapacityPool, ends: Record<string, JobRunStatus> = {}, ms = 20, signal = new AbortController().signal) {
  const started: string[] = [];
  let now = 0;
  let peak = 0;
  const outcomes = await schedule(jobs, {
    pool,
    signal,
    run: async (j) => {
      started.push(j.name);
      peak = Math.max(peak, ++now);
      await new Promise((r) => setTimeout(r, ms));
      now--;
      return { status: ends[j.name] ?? 'success' };
    },
  });
  return { started, peak, outcomes, status: (n: string) => outcomes.get(n)?.status, reason: (n: string) => outcomes.get(n)?.reason };
}

describe('capacity', () => {
  test('2 CPUs and 4 GB are kept back; never below zero', () => {
    assert.deepEqual(machineCapacity({ cpus: 8, memoryMb: 16384 }), { cpus: 6, memoryMb: 12288 });
    assert.deepEqual(machineCapacity({ cpus: 2, memoryMb: 2048 }), { cpus: 0, memoryMb: 0 });
  });

  test('jobs fit by CPUs and memory; one job always runs; --max-parallel counts jobs instead', () => {
    const pool = new CapacityPool(machineCapacity({ cpus: 8, memoryMb: 16384 }));
    assert.ok(pool.fits({ cpus: 32, memoryMb: 1 << 20 }), 'a job larger than the machine runs alone');
    pool.take(MEDIUM);
    pool.take(MEDIUM);
    assert.ok(pool.fits(MEDIUM));
    assert.ok(!pool.fits({ cpus: 3, memoryMb: 1024 }), '2+2+3 CPUs > 6');
    pool.take(SMALL);
    assert.ok(!pool.fits({ cpus: 1, memoryMb: 4096 }), 'memory: 4+4+2+4 GB > 12 GB');
    pool.release(MEDIUM);
    assert.ok(pool.fits({ cpus: 1, memoryMb: 4096 }));
    const counted = new CapacityPool({ cpus: 0, memoryMb: 0, maxJobs: 2 });
    counted.take({ cpus: 16, memoryMb: 32768 });
    assert.ok(counted.fits({ cpus: 16, memoryMb: 32768 }));
    counted.take(SMALL);
    assert.ok(!counted.fits({ cpus: 0, memoryMb: 0 }));
  });
});

describe('scheduler', () => {
  test('fan-out/fan-in: requires first, independent jobs in parallel within capacity', async () => {
    const jobs = [job('a'), job('b', ['a']), job('c', ['a']), job('e', ['a']), job('d', ['b', 'c', 'e'])];
    const wide = await simulate(jobs, new CapacityPool(machineCapacity({ cpus: 4, memoryMb: 16384 })));
    assert.deepEqual(wide.started, ['a', 'b', 'c', 'e', 'd']);
    assert.equal(wide.peak, 2, '2 free CPUs hold two small jobs');
    const narrow = await simulate(jobs, new CapacityPool(machineCapacity({ cpus: 2, memoryMb: 4096 })));
    assert.equal(narrow.peak, 1, 'no free CPUs: one job at a time');
    assert.deepEqual([...narrow.outcomes.values()].map((o) => o.status), ['success', 'success', 'success', 'success', 'success']);
    const counted = await simulate(jobs, new CapacityPool({ cpus: 0, memoryMb: 0, maxJobs: 3 }));
    assert.equal(counted.peak, 3);
  });

  test('a smaller job fills capacity a larger one cannot use yet', async () => {
    const r = await simulate([job('x', [], MEDIUM), job('big', [], { cpus: 4, memoryMb: 4096 }), job('small')], new CapacityPool({ cpus: 3, memoryMb: 16384 }));
    assert.deepEqual(r.started, ['x', 'small', 'big']);
  });

  test('required statuses: a failure blocks success-only requirers (transitively) and starts failed-requirers', async () => {
    const r = await simulate(
      [job('a'), job('b', ['a']), job('c', ['b']), job('on-fail', { a: ['failed'] }), job('either', { a: ['success', 'failed', 'canceled', 'unauthorized', 'not_run'] }), job('after-skip', { b: ['not_run'] }), job('approval', [], undefined)],
      new CapacityPool({ cpus: 4, memoryMb: 16384 }),
      { a: 'failed' },
    );
    assert.equal(r.status('b'), 'not_run');
    assert.equal(r.reason('b'), 'a ended failed');
    assert.equal(r.status('c'), 'not_run');
    assert.equal(r.reason('c'), 'b ended not run');
    assert.equal(r.status('on-fail'), 'success');
    assert.equal(r.status('either'), 'success');
    assert.equal(r.status('after-skip'), 'success');
    assert.ok(!r.started.includes('b') && !r.started.includes('c'));
  });

  test('a job that throws fails with the message; an interrupt starts nothing more', async () => {
    const stop = new AbortController();
    const outcomes = await schedule([job('a'), job('b', ['a']), job('c', { a: ['canceled'] })], {
      pool: new CapacityPool({ cpus: 0, memoryMb: 0 }),
      signal: stop.signal,
      run: async (j) => {
        if (j.name === 'a') {
          stop.abort();
          return { status: 'canceled' };
        }
        throw new Error('should not start');
      },
    });
    assert.equal(outcomes.get('a')?.status, 'canceled');
    assert.equal(outcomes.get('c')?.status, 'not_run');
    assert.equal(outcomes.get('c')?.reason, 'interrupted');
    const thrown = await schedule([job('x')], { pool: new CapacityPool({ cpus: 0, memoryMb: 0 }), signal: new AbortController().signal, run: async () => Promise.reject(new Error('engine went away')) });
    assert.deepEqual({ status: thrown.get('x')?.status, reason: thrown.get('x')?.reason }, { status: 'failed', reason: 'engine went away' });
  });
});

describe('approvals', () => {
  test('--approve all|none answers without asking', async () => {
    const never = new AbortController().signal;
    assert.equal(await fixedApprover('all').decide('hold', never), true);
    assert.equal(await fixedApprover('none').decide('hold', never), false);
  });

  test('on a terminal: one question at a time, y approves, anything else refuses, Ctrl-C refuses', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let asked = '';
    output.on('data', (d: Buffer) => (asked += d.toString()));
    const approver = askingApprover(input, output);
    const never = new AbortController().signal;
    const first = approver.decide('hold', never);
    const second = approver.decide('release', never);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(asked, 'Approve job "hold"? [y/N] ', 'the second question waits for the first answer');
    input.write('y\n');
    assert.equal(await first, true);
    await new Promise((r) => setTimeout(r, 20));
    assert.match(asked, /Approve job "release"\? \[y\/N\] $/);
    input.write('nope\n');
    assert.equal(await second, false);
    const stop = new AbortController();
    const third = approver.decide('later', stop.signal);
    setTimeout(() => stop.abort(), 20);
    assert.equal(await third, false);
    const fourth = approver.decide('after-eof', never);
    setTimeout(() => input.end(), 20);
    assert.equal(await fourth, false, 'Ctrl-D (end of input) refuses');
  });
});

test('summary: a row per job in workflow order, totals, reasons, logs, filtered-out jobs', () => {
  const text = formatSummary(
    'main',
    [
      { job: 'build', status: 'success', durationMs: 1500, logFiles: ['/l/build.log'] },
      { job: 'test-long-name', status: 'failed', durationMs: 65_000, logFiles: ['/l/t0.log', '/l/t1.log'] },
      { job: 'deploy', status: 'not_run', logFiles: [], reason: 'test-long-name ended failed' },
    ],
    [{ name: 'docs', reason: 'branches filter excludes dev' }],
    70_000,
  );
  assert.equal(
    text,
    [
      'Workflow main: 1 success, 1 failed, 1 not run (total 1m10s)',
      'JOB             STATUS   DURATION  LOG / NOTE',
      'build           success  1.5s      /l/build.log',
      'test-long-name  failed   1m5s      /l/t0.log  /l/t1.log',
      'deploy          not run  -         test-long-name ended failed',
      'Not in this pipeline (filters): docs (branches filter excludes dev)',
      '',
    ].join('\n'),
  );
});
