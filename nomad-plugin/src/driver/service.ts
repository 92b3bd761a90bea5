/**
 * The Driver service: Nomad's client calls it to start, watch, stop, recover and measure tasks.
 * One task is one `deckhand agent nomad-task` process running one job assignment; see
 * docs/nomad.md for what each call does with it.
 */
import { status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import type Docker from 'dockerode';
import type { PluginConfig } from '../base/plugin-config.js';
import { ConfigError } from '../base/plugin-config.js';
import type { PluginLog } from '../go-plugin/log.js';
import { encodeDriverState, startAgent, type AgentExit, type NomadTaskConfig } from './agent-process.js';
import { connectEngine, engineVersion, removeTaskContainers } from './engine.js';
import { grpcError, recoverableError, type GrpcError } from './errors.js';
import { TaskEventHub } from './events.js';
import { fingerprint } from './fingerprint.js';
import { TaskStatsCollector, type ResourceUsage } from './stats.js';
import { decodeTaskConfig, taskConfigSpec } from './task-config.js';
import { DriverTask, signalName } from './task.js';
import { reclaimOrphans } from '../../../agent/executor/docker/reclaim.js';

/** How often the plugin removes what dead agents left on the engine (at a fingerprint). */
const RECLAIM_PERIOD_MS = 5 * 60 * 1000;

/** How often the fingerprint is sent again (as Nomad's own external drivers do). */
const FINGERPRINT_PERIOD_MS = 30_000;
/** Handle version 0 is reserved by Nomad. */
const HANDLE_VERSION = 1;
/** Default kill signal when the job names none: what Nomad's own executors send. */
const DEFAULT_KILL_SIGNAL = 'SIGINT';

type Unary<Req> = (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => void;

export interface DriverContext {
  version: string;
  log: PluginLog;
  env: NodeJS.ProcessEnv;
}

function timestamp(d: Date | undefined): { seconds: number; nanos: number } | null {
  if (!d) return null;
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

function durationMs(d: { seconds?: number | string; nanos?: number } | null | undefined, fallback: number): number {
  if (!d) return fallback;
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

function exitResult(exit: AgentExit): { exit_code: number; signal: number; oom_killed: boolean } {
  return { exit_code: exit.exitCode, signal: exit.signal, oom_killed: false };
}

function unary<Req>(fn: (request: Req, call: ServerUnaryCall<Req, unknown>) => Promise<unknown> | unknown): Unary<Req> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (value) => callback(null, value as object),
        (err: unknown) => callback(isGrpcError(err) ? err : grpcError(status.INTERNAL, (err as Error).message ?? String(err))),
      );
  };
}

function isGrpcError(err: unknown): err is GrpcError {
  return typeof err === 'object' && err !== null && typeof (err as GrpcError).code === 'number' && typeof (err as GrpcError).details === 'string';
}

export class DeckhandDriver {
  private config: PluginConfig | undefined;
  private engine: Promise<Docker> | undefined;
  private readonly tasks = new Map<string, DriverTask>();
  readonly events = new TaskEventHub();
  private reclaimedAt = 0;

  constructor(private readonly ctx: DriverContext) {}

  configure(config: PluginConfig): void {
    this.config = config;
    this.engine = undefined;
  }

  /** The engine of the plugin config, connected on first use; undefined before SetConfig. */
  private docker(): Promise<Docker | undefined> {
    if (!this.config) return Promise.resolve(undefined);
    this.engine ??= connectEngine(this.config.dockerEndpoint);
    return this.engine;
  }

  private task(id: string): DriverTask {
    const task = this.tasks.get(id);
    if (!task) throw grpcError(status.NOT_FOUND, `task not found for given id: ${id}`);
    return task;
  }

  private event(task: DriverTask, message: string, annotations: Record<string, string> = {}): void {
    const config = task.config as unknown as NomadTaskConfig;
    this.events.emit({ task_id: task.id, alloc_id: config.alloc_id ?? '', task_name: config.name ?? '', message, annotations });
    this.ctx.log.log('info', message, { task_id: task.id, ...annotations });
  }

  private readonly ended = (task: DriverTask, exit: AgentExit): void => {
    if (exit.err) this.event(task, exit.err, { exit_code: String(exit.exitCode) });
    else this.event(task, `the Deckhand agent exited with code ${exit.exitCode}${exit.signal ? ` (signal ${exit.signal})` : ''}`, { exit_code: String(exit.exitCode) });
  };

  service() {
    return {
      Init: unary(() => ({})),
      Shutdown: unary(() => {
        this.ctx.log.log('info', 'the client is shutting down; running tasks go on and are recovered later', { tasks: this.tasks.size });
        return {};
      }),
      TaskConfigSchema: unary(() => ({ spec: taskConfigSpec() })),
      Capabilities: unary(() => ({
        capabilities: {
          send_signals: true,
          exec: false,
          fs_isolation: 'NONE',
          network_isolation_modes: ['HOST'],
          must_create_network: false,
          mount_configs: 'NO_MOUNTS',
          disable_log_collection: false,
          dynamic_workload_users: false,
        },
      })),
      Fingerprint: (call: ServerWritableStream<unknown, unknown>) => this.fingerprintStream(call),
      StartTask: unary((req: { task: Record<string, unknown> }) => this.start(req.task)),
      RecoverTask: unary((req: { task_id: string; handle: { config: Record<string, unknown> | null; driver_state: Buffer } | null }) => this.recover(req.task_id, req.handle)),
      WaitTask: unary(async (req: { task_id: string }) => {
        const exit = await this.task(req.task_id).ended;
        return { result: exitResult(exit), err: exit.err ?? '' };
      }),
      StopTask: unary((req: { task_id: string; timeout: { seconds: number; nanos: number } | null; signal: string }) => this.stop(req.task_id, req.signal, durationMs(req.timeout, 5000))),
      DestroyTask: unary((req: { task_id: string; force: boolean }) => this.destroy(req.task_id, req.force)),
      InspectTask: unary((req: { task_id: string }) => {
        const task = this.task(req.task_id);
        return {
          task: {
            id: task.id,
            name: String(task.config.name ?? ''),
            state: task.running ? 'RUNNING' : 'EXITED',
            started_at: timestamp(task.startedAt),
            completed_at: timestamp(task.completedAt),
            result: task.exit ? exitResult(task.exit) : null,
          },
          driver: { attributes: { pid: String(task.state.pid), containers_label: `com.deckhand.job=${task.state.containersId}`, ...(task.exit?.err ? { exit_error: task.exit.err } : {}) } },
        };
      }),
      SignalTask: unary((req: { task_id: string; signal: string }) => {
        const task = this.task(req.task_id);
        try {
          task.signal(req.signal);
        } catch (err) {
          throw grpcError(status.INVALID_ARGUMENT, (err as Error).message);
        }
        this.event(task, `${signalName(req.signal)} sent to the Deckhand agent`);
        return {};
      }),
      TaskStats: (call: ServerWritableStream<{ task_id: string; collection_interval: { seconds: number; nanos: number } | null }, unknown>) => this.statsStream(call),
      TaskEvents: (call: ServerWritableStream<unknown, unknown>) => {
        const stop = this.events.listen((e) => call.write({ ...e, timestamp: timestamp(e.timestamp) }));
        call.on('cancelled', stop);
        call.on('close', stop);
      },
      ExecTask: unary(() => {
        throw grpcError(status.UNIMPLEMENTED, 'the deckhand driver does not exec into tasks: SSH into the build instead (the job\'s ssh port)');
      }),
    };
  }

  private async fingerprintStream(call: ServerWritableStream<unknown, unknown>): Promise<void> {
    let open = true;
    call.on('cancelled', () => (open = false));
    call.on('close', () => (open = false));
    while (open) {
      const docker = await this.docker();
      const fp = await fingerprint(this.config, docker, this.ctx.version);
      if (!open) break;
      call.write(fp);
      if (docker && Date.now() - this.reclaimedAt >= RECLAIM_PERIOD_MS) {
        this.reclaimedAt = Date.now();
        // what agents that died left on the engine (killed, out of memory, before a reboot)
        await reclaimOrphans(docker, { said: (line) => this.ctx.log.log('warn', line) }).catch((err: unknown) => this.ctx.log.log('warn', `reclaiming left containers failed: ${err instanceof Error ? err.message : String(err)}`));
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FINGERPRINT_PERIOD_MS);
        call.once('cancelled', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private async start(task: Record<string, unknown>): Promise<unknown> {
    const config = this.config;
    const docker = await this.docker();
    if (!config || !docker) throw grpcError(status.FAILED_PRECONDITION, 'the driver has no configuration yet (SetConfig was not called)');
    const nomadTask = task as unknown as NomadTaskConfig;
    if (this.tasks.has(nomadTask.id)) throw grpcError(status.ALREADY_EXISTS, `task with ID ${nomadTask.id} already started`);
    let taskConfig;
    try {
      taskConfig = decodeTaskConfig((task.msgpack_driver_config as Buffer | undefined) ?? Buffer.alloc(0));
    } catch (err) {
      if (err instanceof ConfigError) throw grpcError(status.INVALID_ARGUMENT, err.message);
      throw err;
    }
    // an engine that is down now may be back in a moment: worth a restart, not a failed job
    const engineUp = engineVersion(docker, 5000).then((engine) => {
      if ('error' in engine) throw recoverableError(`the Docker engine at ${config.dockerEndpoint} does not answer (${engine.error}); the job needs it`);
    });
    let started;
    try {
      started = await startAgent(nomadTask, taskConfig, config, this.ctx.env, engineUp);
    } catch (err) {
      if (isGrpcError(err)) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') throw grpcError(status.FAILED_PRECONDITION, `cannot start the Deckhand agent ${JSON.stringify(config.deckhand)} (${code}): set deckhand in the plugin config to the deckhand executable`);
      throw grpcError(status.INTERNAL, `cannot start the Deckhand agent: ${(err as Error).message}`);
    }
    const driverTask = new DriverTask(nomadTask.id, task, { ...started.state, killTimeoutMs: taskConfig.killTimeoutMs }, new Date(started.state.startedAt), started.child, this.ended);
    this.tasks.set(nomadTask.id, driverTask);
    this.event(driverTask, `the Deckhand agent started (pid ${started.state.pid})`, { pid: String(started.state.pid) });
    return { handle: { version: HANDLE_VERSION, config: task, state: 'RUNNING', driver_state: encodeDriverState(driverTask.state) } };
  }

  private recover(taskId: string, handle: { config: Record<string, unknown> | null; driver_state: Buffer } | null): unknown {
    if (!handle) throw grpcError(status.INVALID_ARGUMENT, `RecoverTask of ${taskId} came without a handle`);
    const id = taskId || String(handle.config?.id ?? '');
    // the client restarted but this plugin process did not: it still has the task
    if (this.tasks.has(id)) return {};
    let task: DriverTask;
    try {
      task = DriverTask.recover(id, handle.config ?? { id }, handle.driver_state ?? Buffer.alloc(0), this.ended);
    } catch (err) {
      throw grpcError(status.INVALID_ARGUMENT, `cannot recover task ${id}: ${(err as Error).message}`);
    }
    this.tasks.set(id, task);
    if (task.running) this.event(task, `recovered the running Deckhand agent (pid ${task.state.pid})`, { pid: String(task.state.pid) });
    return {};
  }

  private async stop(taskId: string, signal: string, timeoutMs: number): Promise<unknown> {
    const task = this.task(taskId);
    if (!task.running) return {};
    const kill = signal || DEFAULT_KILL_SIGNAL;
    try {
      signalName(kill);
    } catch (err) {
      throw grpcError(status.INVALID_ARGUMENT, (err as Error).message);
    }
    const planned = task.state.killTimeoutMs;
    if (planned !== undefined && timeoutMs < planned) {
      this.event(task, `the client gives the agent ${timeoutMs / 1000} s to stop, but the task config's kill_timeout says ${planned / 1000} s: set both to the same (kill_timeout of the task and of its config), within the client's max_kill_timeout`);
    }
    this.event(task, `${signalName(kill)} sent to the Deckhand agent: it cancels the job within ${timeoutMs / 1000} s`);
    const { killed } = await task.stop(kill, timeoutMs, await this.docker());
    if (killed) this.event(task, `the Deckhand agent did not end within ${timeoutMs / 1000} s: killed, and its containers removed`);
    return {};
  }

  private async destroy(taskId: string, force: boolean): Promise<unknown> {
    const task = this.tasks.get(taskId);
    if (!task) return {};
    if (task.running) {
      if (!force) throw grpcError(status.FAILED_PRECONDITION, `task ${taskId} is still running: stop it first, or destroy it with force`);
      task.kill();
      await task.ended;
    }
    // an agent killed while the driver was away (or by destroy) could not remove its containers
    const docker = await this.docker();
    if (docker) await removeTaskContainers(docker, task.state.containersId).catch(() => undefined);
    task.dispose();
    this.tasks.delete(taskId);
    return {};
  }

  private async statsStream(call: ServerWritableStream<{ task_id: string; collection_interval: { seconds: number; nanos: number } | null }, unknown>): Promise<void> {
    const task = this.tasks.get(call.request.task_id);
    if (!task) {
      call.destroy(Object.assign(new Error(`task not found for given id: ${call.request.task_id}`), { code: status.NOT_FOUND }));
      return;
    }
    const intervalMs = Math.max(100, durationMs(call.request.collection_interval, 1000));
    const collector = new TaskStatsCollector(task.state.pid, await this.docker(), task.state.containersId);
    let open = true;
    call.on('cancelled', () => (open = false));
    while (open && task.running) {
      const sample = await collector.sample();
      if (!open) break;
      const usage = (u: ResourceUsage) => u;
      call.write({
        stats: {
          id: task.id,
          timestamp: timestamp(new Date(sample.timestampMs)),
          agg_resource_usage: usage(sample.aggregate),
          resource_usage_by_pid: sample.byKey,
        },
      });
      await Promise.race([task.ended, new Promise((resolve) => setTimeout(resolve, intervalMs))]);
    }
    if (open) call.end();
  }
}
