/**
 * The executor of a `machine` job: a VM from the job's provider, acquired as part of spin-up (so
 * that a cancel stops the wait) and reached over SSH by MachineExecutor, which gives it back at
 * teardown. A job never holds a VM past its own teardown, whatever path it ends on.
 */
import type { Duplex, Readable } from 'node:stream';
import type { JobSpec } from '../../jobspec/jobspec.js';
import { fingerprintOf, parseHostKey } from '../../vm/host-key.js';
import type { Vm, VmProvider } from '../../vm/provider.js';
import { ExecutorError, type ExecRequest, type Executor, type InteractiveExec, type InteractiveRequest, type RunningExec, type StartupOutcome, type StartupScript } from '../executor.js';
import type { ExecutorChoice, ExecutorContext } from '../registry.js';
import { MachineExecutor } from './machine-executor.js';

export async function machineExecutorFor(spec: JobSpec, ctx: ExecutorContext): Promise<ExecutorChoice> {
  if (spec.executor.kind !== 'machine') throw new Error(`machineExecutorFor was given a ${spec.executor.kind} job`);
  if (!ctx.vms) throw new ExecutorError(`job "${spec.job.name}" is a machine job, but this agent was given no VM provider`);
  const image = spec.executor.image;
  return {
    executor: new ProvisionedMachine(ctx.vms, ctx, {
      ...(image !== undefined ? { image } : {}),
      resourceClass: spec.resources.class,
      cpus: spec.resources.cpus,
      memoryMb: spec.resources.memoryMb,
      purpose: 'machine',
      owner: { jobId: ctx.jobId, runId: ctx.runId },
    }),
    notes: [],
  };
}

type Request = Parameters<VmProvider['acquire']>[0];

/** Acquires the VM in prepare(), then is the MachineExecutor that reaches it. */
class ProvisionedMachine implements Executor {
  private machine: MachineExecutor | undefined;
  private vm: Vm | undefined;

  constructor(
    private readonly vms: () => Promise<VmProvider>,
    private readonly ctx: ExecutorContext,
    private readonly request: Request,
  ) {}

  async prepare(signal?: AbortSignal, startup?: StartupScript): Promise<StartupOutcome | undefined> {
    const provider = await this.vms();
    const t0 = Date.now();
    this.vm = await provider.acquire({ ...this.request, ...(signal ? { signal } : {}) });
    const { access } = this.vm;
    this.ctx.say(`Acquired VM ${this.vm.id.slice(0, 12)} from the ${provider.name} provider in ${((Date.now() - t0) / 1000).toFixed(2)}s: ${access.user}@${access.host}:${access.port}, host key ${fingerprintOf(parseHostKey(access.hostKey).blob)}`);
    for (const note of this.vm.notes ?? []) this.ctx.say(`note: ${note}`);
    const vm = this.vm;
    this.machine = new MachineExecutor({ access, release: () => vm.release(), ...(this.ctx.killGraceMs !== undefined ? { killGraceMs: this.ctx.killGraceMs } : {}) });
    return this.machine.prepare(signal, startup);
  }

  exec(request: ExecRequest): RunningExec {
    return this.reached('exec').exec(request);
  }

  interact(request: InteractiveRequest): InteractiveExec {
    return this.reached('interact').interact(request);
  }

  connect(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    return this.reached('connect').connect(host, port, signal);
  }

  copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void> {
    return this.reached('copyIn').copyIn(destinationDir, tar, signal);
  }

  copyOut(sourcePath: string, signal?: AbortSignal): Promise<Readable> {
    return this.reached('copyOut').copyOut(sourcePath, signal);
  }

  exists(path: string): Promise<boolean> {
    return this.reached('exists').exists(path);
  }

  async teardown(): Promise<void> {
    // the executor gives the VM back; a VM acquired without one (prepare failed after) goes here
    if (this.machine) await this.machine.teardown();
    else await this.vm?.release();
  }

  private reached(operation: string): MachineExecutor {
    if (!this.machine) throw new ExecutorError(`${operation}() before prepare() finished; await prepare() first`);
    return this.machine;
  }
}
