/**
 * One task as the driver tracks it: its agent process (a child of this plugin process, or one
 * re-adopted after a restart and watched through /proc), its end, and stopping it: the kill
 * signal, the timeout, then SIGKILL to its whole session, then removal of any container the
 * killed agent could not remove.
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type Docker from 'dockerode';
import { decodeDriverState, exitOf, readExitFile, type AgentExit, type DriverState } from './agent-process.js';
import { removeTaskContainers } from './engine.js';
import { isSameLiveProcess } from './proc.js';

/** How often a re-adopted agent, not our child, is looked for in /proc. */
const WATCH_INTERVAL_MS = 250;

export class DriverTask {
  exit: AgentExit | undefined;
  completedAt: Date | undefined;
  readonly ended: Promise<AgentExit>;
  private resolveEnded!: (exit: AgentExit) => void;
  private watch: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    /** the TaskConfig as Nomad sent it, echoed in the handle */
    readonly config: Record<string, unknown>,
    readonly state: DriverState,
    readonly startedAt: Date,
    child: ChildProcess | undefined,
    private readonly onEnd: (task: DriverTask, exit: AgentExit) => void,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    if (child) {
      child.once('exit', (code, signal) => {
        this.finish(exitOf(code, signal));
      });
      // the plugin may go away before the agent: do not keep it alive for its child
      child.unref();
    } else {
      this.watchFromOutside();
    }
  }

  /** A task from the handle Nomad kept: alive, ended with its exit recorded, or ended without one. */
  static recover(id: string, config: Record<string, unknown>, driverState: Uint8Array, onEnd: (task: DriverTask, exit: AgentExit) => void): DriverTask {
    const state = decodeDriverState(driverState);
    return new DriverTask(id, config, state, new Date(state.startedAt), undefined, onEnd);
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  private alive(): boolean {
    return isSameLiveProcess(this.state.pid, this.state.startTime, this.state.bootId);
  }

  private watchFromOutside(): void {
    const check = () => {
      if (this.alive()) return;
      clearInterval(this.watch);
      this.finish(
        readExitFile(this.state.exitFile) ?? {
          exitCode: -1,
          signal: 0,
          err: `the agent (pid ${this.state.pid}) ended while the driver was not watching and left no exit status in ${this.state.exitFile}: it was killed (SIGKILL, out of memory) or the machine restarted`,
        },
      );
    };
    this.watch = setInterval(check, WATCH_INTERVAL_MS);
    this.watch.unref();
    check();
  }

  private finish(exit: AgentExit): void {
    if (this.exit) return;
    clearInterval(this.watch);
    this.exit = exit;
    this.completedAt = new Date();
    this.resolveEnded(exit);
    this.onEnd(this, exit);
  }

  /** Sends a signal by name (SIGTERM or TERM) to the agent. */
  signal(name: string): void {
    const signal = signalName(name);
    if (!this.running) return;
    try {
      process.kill(this.state.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** SIGKILL to the agent's whole session (it leads it), whatever it started. */
  kill(): void {
    if (!this.running) return;
    for (const target of [-this.state.pid, this.state.pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  /**
   * The kill signal, then up to `timeoutMs` for the agent's graceful cancel, then SIGKILL; then
   * whatever containers the agent left are removed. Resolves once the agent has ended.
   */
  async stop(signal: string, timeoutMs: number, docker: Docker | undefined): Promise<{ killed: boolean }> {
    if (!this.running) return { killed: false };
    this.signal(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([this.ended.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))]);
    clearTimeout(timer);
    if (!timedOut) return { killed: false };
    this.kill();
    await this.ended;
    if (docker) await removeTaskContainers(docker, this.state.containersId).catch(() => undefined);
    return { killed: true };
  }

  dispose(): void {
    clearInterval(this.watch);
  }
}

/** `SIGTERM`, `TERM` or `sigterm` → SIGTERM; anything Linux does not know is refused. */
export function signalName(name: string): NodeJS.Signals {
  const upper = name.trim().toUpperCase();
  const full = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  if (!(full in constants.signals)) throw new RangeError(`${JSON.stringify(name)} is not a signal this machine knows (e.g. SIGTERM, SIGINT, SIGHUP)`);
  return full;
}
