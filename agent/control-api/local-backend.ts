/**
 * The local backend: job nodes run on this machine through the core (startAssignment), within its
 * capacity after 2 CPUs and 4 GB are kept back (workflow/capacity.ts), at least one at a time.
 * Each node's assignment is built as `deckhand run` builds its own; its masked output goes to a
 * log file of its own (what `GET /jobs/ID/output` serves) and, streamed, to the output processor.
 */
import { join } from 'node:path';
import type { OutputTarget, RuntimeSettings } from '../assignment/assignment.js';
import type { Logger } from '../daemon-log.js';
import { errorKind, errorMessage } from '../errors.js';
import type { JobEvent, OutputSink } from '../output/events.js';
import { startAssignment, type RunningAssignment } from '../runner/run-assignment.js';
import type { Capacity, Size } from '../workflow/capacity.js';
import { nodeAssignment } from './node-assignment.js';
import { NodeSlots, nodeSize } from './node-slots.js';
import { assignmentSsh, type ServiceSshSettings } from './rerun-ssh.js';
import type { Backend, NodeEvents, NodeLaunch } from './scheduler.js';
import type { StepRecord } from './store.js';
import type { VariableStore } from './variables.js';

export interface LocalBackendOptions {
  capacity: Capacity;
  /** the agent's environment the jobs see (operator settings: DOCKER_HOST, DECKHAND_HOME …) */
  env: Readonly<Record<string, string | undefined>>;
  storeUrl: string;
  contextsFile: string;
  sshKeysDir: string;
  runtime: RuntimeSettings;
  /** DATA/logs: one log file per node */
  logsDir: string;
  /** where a node's output is streamed, by its run id */
  output: (runId: string) => OutputTarget | null;
  log: Logger;
  /** project and context variables stored through the API */
  variables: VariableStore;
  /** the service's settings for reruns with SSH */
  ssh: ServiceSshSettings;
}

export function nodeLogFile(logsDir: string, runId: string): string {
  return join(logsDir, `${runId}.log`);
}

export class LocalBackend implements Backend {
  readonly name = 'local';
  private readonly jobs: NodeSlots<{ job: RunningAssignment; size: Size; machine: boolean }>;

  constructor(private readonly opts: LocalBackendOptions) {
    this.jobs = new NodeSlots(opts.capacity);
  }

  get running(): number {
    return this.jobs.running;
  }

  fits(size: Size): boolean {
    return this.jobs.fits(size);
  }

  start(launch: NodeLaunch, events: NodeEvents): { ranOn: string } {
    const { node, job, pipeline } = launch;
    const spec = job.spec!;
    const { assignment, environment } = nodeAssignment(launch, { storeUrl: this.opts.storeUrl, contextsFile: this.opts.contextsFile, sshKeysDir: this.opts.sshKeysDir, output: this.opts.output(node.id), runtime: this.opts.runtime, skipCheckout: false });
    if (job.ssh) assignment.ssh = assignmentSsh(job.ssh, this.opts.ssh);
    // the variables stored through the API, read by reference when the job starts
    const variables = this.opts.variables;
    if (variables.has('project', pipeline.project)) assignment.secrets.project = { ...assignment.secrets.project, files: [variables.file('project', pipeline.project)] };
    if (spec.contexts.length > 0) assignment.secrets.contexts = { names: spec.contexts, dir: variables.folder('context') };
    const size = nodeSize(spec);
    const running = startAssignment(assignment, {
      env: { ...this.opts.env, ...environment },
      display: new NodeRecorder(events),
      logFile: nodeLogFile(this.opts.logsDir, node.id),
      log: this.opts.log,
      containerJobId: `deckhand-${job.workflowId.slice(0, 8)}-${node.id.slice(0, 8)}`,
    });
    this.jobs.take(node.id, { job: running, size, machine: spec.executor.kind === 'machine' });
    running.result.then(
      (r) => ({ status: r.status, exitCode: r.exitCode, infrastructureFailure: r.infrastructureFailure || r.exitCode === 2, ...(r.exitCode === 2 && r.output && !r.output.delivered ? { reason: 'its output was not all delivered to the output processor' } : {}) }),
      // what stops a job before it starts: an input of its own (a context with no variables) is
      // the job's failure; no engine or no image is the environment's
      (err: unknown) => ({ status: 'failed' as const, exitCode: 2, infrastructureFailure: errorKind(err) !== 'input', reason: errorMessage(err) }),
    ).then((result) => {
      this.jobs.release(node.id);
      events.ended(result);
    });
    return { ranOn: 'local' };
  }

  cancel(nodeId: string): void {
    this.jobs.get(nodeId)?.job.cancel({ signal: 'SIGTERM', deliverBy: Date.now() + 10_000 });
  }

  capacity(): ReturnType<Backend['capacity']> {
    return this.jobs.usage((j) => j.machine);
  }

  /** Cancels every running node and waits for their teardown. */
  async close(): Promise<void> {
    const all = this.jobs.entries().map(([, j]) => j);
    for (const j of all) j.job.cancel({ signal: 'SIGTERM', deliverBy: Date.now() + 5_000 });
    await Promise.allSettled(all.map((j) => j.job.result));
  }
}

/** The node's display: records its steps (with status, exit code and duration), counts its output, and keeps where its SSH stands. */
class NodeRecorder implements OutputSink {
  private readonly steps: StepRecord[] = [];
  private bytes = 0;

  constructor(private readonly events: NodeEvents) {}

  event(e: JobEvent): void {
    if (e.type === 'step-start') {
      this.steps.push({ index: e.index, name: e.name });
      this.events.steps(this.steps, this.bytes);
    } else if (e.type === 'step-end') {
      const step = this.steps.find((s) => s.index === e.index);
      if (step) Object.assign(step, { status: e.status, durationMs: e.durationMs, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) });
      this.events.stepEnded(e.status);
      this.events.steps(this.steps, this.bytes);
    } else if (e.type === 'output') {
      this.bytes += e.data.length;
      this.events.output(e.data.length);
    } else if (e.type === 'ssh') {
      // the status has the fields the node's SSH record keeps
      const { type: _type, time: _time, ...status } = e;
      this.events.ssh(status);
    } else if (e.type === 'job-end') {
      this.events.steps(this.steps, this.bytes);
    }
  }

  async close(): Promise<void> {}
}
