/**
 * The control API's scheduler over a real store (SQLite in a temporary folder): job nodes start
 * in submission order while their resource class fits in what is left after 2 CPUs and 4 GB are
 * kept back, the head of the queue is never overtaken by a smaller job, one job always runs on
 * a machine too small for any, and parallel nodes hold capacity each. The backend here is a
 * stand-in that only records starts and is told when a node ends: what is tested is the
 * scheduling, not running containers (serve.test.ts does that).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { AuditLog } from '../../agent/control-api/audit.js';
import { takePipeline } from '../../agent/control-api/intake.js';
import { ControlMetrics } from '../../agent/control-api/metrics.js';
import { Scheduler, type Backend, type NodeEvents, type NodeLaunch } from '../../agent/control-api/scheduler.js';
import { ControlStore } from '../../agent/control-api/store.js';
import { CapacityPool, machineCapacity, type Size } from '../../agent/workflow/capacity.js';

class RecordingBackend implements Backend {
  readonly name = 'stand-in';
  readonly started: { launch: NodeLaunch; events: NodeEvents; size: Size }[] = [];
  private readonly pool: CapacityPool;

  constructor(host: Size) {
    this.pool = new CapacityPool(machineCapacity(host));
  }

  get running(): number {
    return this.pool.jobsRunning;
  }

  fits(size: Size): boolean {
    return this.pool.fits(size);
  }

  start(launch: NodeLaunch, events: NodeEvents): { ranOn: string } {
    const size = { cpus: launch.job.spec!.resources.cpus, memoryMb: launch.job.spec!.resources.memoryMb };
    this.pool.take(size);
    this.started.push({ launch, events, size });
    return { ranOn: 'stand-in' };
  }

  /** Ends the running node of job `name` (its first, or the one at `index`). */
  finish(name: string, status: 'success' | 'failed' = 'success', index = 0): void {
    const s = this.started.find((x) => x.launch.job.name === name && x.launch.node.index === index);
    assert.ok(s, `${name}#${index} never started`);
    this.pool.release(s.size);
    s.events.ended({ status, exitCode: status === 'success' ? 0 : 1, infrastructureFailure: false });
  }

  cancel(): void {}

  capacity(): ReturnType<Backend['capacity']> {
    return { cpusUsed: 0, cpusFree: 0, memoryMbUsed: 0, memoryMbFree: 0, vmsInUse: 0 };
  }

  startedNames(): string[] {
    return this.started.map((s) => `${s.launch.job.name}#${s.launch.node.index}`);
  }

  async close(): Promise<void> {}
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setUp(host: Size): { store: ControlStore; backend: RecordingBackend; scheduler: Scheduler; submit: (name: string, resourceClass: string, parallelism?: number) => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-scheduler-'));
  dirs.push(dir);
  const store = new ControlStore(join(dir, 'deckhand.db'));
  const audit = new AuditLog(join(dir, 'audit.jsonl'));
  const backend = new RecordingBackend(host);
  const metrics = new ControlMetrics({ jobCounts: () => store.countJobs(), capacity: () => backend.capacity() });
  const scheduler = new Scheduler(store, backend, audit, metrics);
  const submit = async (name: string, resourceClass: string, parallelism = 1): Promise<void> => {
    const config = `version: 2.1\njobs:\n  ${name}:\n    docker: [{image: busybox}]\n    resource_class: ${resourceClass}\n    parallelism: ${parallelism}\n    steps: [{run: "true"}]\nworkflows:\n  w:\n    jobs: [${name}]\n`;
    await takePipeline({ config }, 'tester', { store, pipelinesDir: join(dir, 'pipelines') });
    scheduler.advance();
  };
  return { store, backend, scheduler, submit };
}

describe('control API scheduling within capacity', () => {
  test('6 CPUs and 12 GB: 4 CPUs and 8 GB for jobs, by resource class, in submission order', async () => {
    const { backend, submit, store } = setUp({ cpus: 6, memoryMb: 12288 });
    await submit('a', 'medium'); // 2 CPUs, 4 GB
    await submit('b', 'medium');
    await submit('c', 'large'); // 4 CPUs, 8 GB
    await submit('d', 'small'); // 1 CPU, 2 GB: would fit beside c's wait, but comes after it
    assert.deepEqual(backend.startedNames(), ['a#0', 'b#0']);
    assert.deepEqual(store.jobsWithStatus('queued').map((j) => j.name), ['c', 'd']);
    backend.finish('a');
    // c needs all 4 CPUs: it waits for b, and d waits behind it
    assert.deepEqual(backend.startedNames(), ['a#0', 'b#0']);
    backend.finish('b');
    assert.deepEqual(backend.startedNames(), ['a#0', 'b#0', 'c#0']);
    backend.finish('c', 'failed');
    assert.deepEqual(backend.startedNames(), ['a#0', 'b#0', 'c#0', 'd#0']);
    backend.finish('d');
    const statuses = Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [n, store.jobsWithStatus('success').some((j) => j.name === n) ? 'success' : store.jobsWithStatus('failed').some((j) => j.name === n) ? 'failed' : 'other']));
    assert.deepEqual(statuses, { a: 'success', b: 'success', c: 'failed', d: 'success' });
  });

  test('a machine with nothing left after what is kept back still runs one job at a time', async () => {
    const { backend, submit } = setUp({ cpus: 2, memoryMb: 4096 });
    await submit('big', 'xlarge');
    await submit('tiny', 'small');
    assert.deepEqual(backend.startedNames(), ['big#0']);
    backend.finish('big');
    assert.deepEqual(backend.startedNames(), ['big#0', 'tiny#0']);
  });

  test('each parallel node holds its class: three medium nodes on 4 CPUs run two, then one', async () => {
    const { backend, submit, store } = setUp({ cpus: 6, memoryMb: 12288 });
    await submit('split', 'medium', 3);
    assert.deepEqual(backend.startedNames(), ['split#0', 'split#1']);
    const job = store.jobsWithStatus('running')[0];
    assert.equal(job.name, 'split');
    backend.finish('split', 'success', 1);
    assert.deepEqual(backend.startedNames(), ['split#0', 'split#1', 'split#2']);
    backend.finish('split', 'success', 0);
    assert.equal(store.job(job.id)!.status, 'running');
    backend.finish('split', 'failed', 2);
    // the job takes its worst node's status once all have ended
    assert.equal(store.job(job.id)!.status, 'failed');
  });

  test('a restart marks what was running infrastructure_fail and starts what was queued', async () => {
    const { backend, submit, store, scheduler } = setUp({ cpus: 2, memoryMb: 4096 });
    await submit('first', 'small');
    await submit('second', 'small');
    assert.deepEqual(backend.startedNames(), ['first#0']);
    // a new service on the same database: the first's node is still "running" in it
    const fresh = new RecordingBackend({ cpus: 2, memoryMb: 4096 });
    const audit = new AuditLog(join(dirs[0], 'audit-2.jsonl'));
    const again = new Scheduler(store, fresh, audit, new ControlMetrics({ jobCounts: () => store.countJobs(), capacity: () => fresh.capacity() }));
    assert.equal(again.recover('2026-12-05T00:00:00.000Z'), 1);
    const first = store.jobsWithStatus('infrastructure_fail');
    assert.deepEqual(first.map((j) => j.name), ['first']);
    assert.match(first[0].reason ?? '', /stopped while this job ran \(restarted at 2026-12-05T00:00:00\.000Z\)/);
    assert.deepEqual(fresh.startedNames(), ['second#0']);
    void scheduler;
  });
});
