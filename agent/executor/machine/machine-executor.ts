// The Executor for CircleCI's `machine` executor: steps run on a VM over one SSH connection per
// job, each command, copy and signal on a channel of its own (docs/machine.md). The VM comes
// from a provider (agent/vm/); this executor only reaches it, and gives it back at teardown.

import { randomBytes } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import type { VmAccess } from '../../vm/provider.js';
import { ExecutorError, failedExec, failedInteractive, type ExecRequest, type Executor, type InteractiveExec, type InteractiveRequest, type RunningExec, type StartupOutcome, type StartupScript } from '../executor.js';
import { VmConnection, type ConnectionSettings } from './connection.js';
import { copyIn, copyOut, exists, type CopySettings } from './copy.js';
import { sendSignal, startExec, type Tracked } from './exec.js';
import { startInteractive, type InteractiveSettings } from './interactive.js';

export interface MachineExecutorOptions {
  /** how to reach the VM; its host key is the only one accepted */
  access: VmAccess;
  /** gives the VM back (removed, unlocked, terminated); called once teardown has ended the commands */
  release: () => Promise<void>;
  /** between SIGTERM and SIGKILL when an exec is aborted. Default 10 s. */
  killGraceMs?: number;
  /** TCP connect plus SSH handshake. Default 30 s (a VM that has just booted may be slow to answer). */
  connectTimeoutMs?: number;
  /** SSH keepalive period. Default 5 s: with keepaliveCountMax, a silent VM is noticed within ~20 s. */
  keepaliveIntervalMs?: number;
  /** unanswered keepalives before the VM counts as lost. Default 3. */
  keepaliveCountMax?: number;
  /** buffered output per stream before a command is slowed down. Default 1 MiB. */
  highWaterMark?: number;
}

/** How long teardown waits for the commands still running to be killed. */
const TEARDOWN_KILL_MS = 5_000;
/** How long teardown waits for a command that has just started to report its process group. */
const GROUP_WAIT_MS = 2_000;

export class MachineExecutor implements Executor {
  private connection: VmConnection | undefined;
  private preparing: Promise<StartupOutcome | undefined> | undefined;
  private readonly closing = new AbortController();
  private tornDown = false;
  private released: Promise<void> | undefined;
  private readonly running = new Set<Tracked>();
  /** marks the process-group line of this executor's commands */
  private readonly markerToken = `deckhand-pgid-${randomBytes(8).toString('hex')}`;
  /** marks the halt line a step prints as it ends */
  private readonly haltToken = `deckhand-halt-${randomBytes(8).toString('hex')}`;
  private readonly copySettings: CopySettings;
  /** what every command, interactive or not, is run with */
  private readonly commandSettings: InteractiveSettings;
  /** the path exists() was last asked about (the runner's halt marker, after every step) */
  private lookedUp: string | undefined;
  /** that path looked up again as soon as a command ended, for the next exists() */
  private lookup: { path: string; answer: Promise<boolean> } | undefined;

  constructor(private readonly options: MachineExecutorOptions) {
    this.copySettings = { sudo: options.access.user !== 'root', loginUser: options.access.user };
    this.commandSettings = {
      killGraceMs: options.killGraceMs ?? 10_000,
      loginUser: options.access.user,
      markerToken: this.markerToken,
      ...(options.highWaterMark ? { highWaterMark: options.highWaterMark } : {}),
    };
  }

  /** host:port of the VM, for messages. */
  get where(): string {
    return `${this.options.access.host}:${this.options.access.port}`;
  }

  /**
   * Connects. The startup script is left to the caller (undefined): over SSH it costs one
   * channel either way, and as an exec it is cancelled and reported like any command.
   */
  prepare(signal?: AbortSignal, _startup?: StartupScript): Promise<StartupOutcome | undefined> {
    if (this.preparing) return Promise.reject(new ExecutorError('prepare() was called twice on one executor; create a new executor per job'));
    if (this.tornDown) return Promise.reject(new ExecutorError('prepare() after teardown(); create a new executor per job'));
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    const settings: ConnectionSettings = {
      connectTimeoutMs: this.options.connectTimeoutMs ?? 30_000,
      keepaliveIntervalMs: this.options.keepaliveIntervalMs ?? 5_000,
      keepaliveCountMax: this.options.keepaliveCountMax ?? 3,
    };
    this.preparing = VmConnection.open(this.options.access, settings, stop).then((connection) => {
      this.connection = connection;
      // exists() is asked after the first step (the halt marker): the SFTP channel it uses takes
      // a round trip and the start of the VM's sftp-server, better spent during spin-up than
      // between the first two steps. Never rejects; a VM without SFTP falls back as before.
      void connection.sftp();
      return undefined;
    });
    return this.preparing;
  }

  exec(request: ExecRequest): RunningExec {
    const connection = this.connection;
    if (!connection) return failedExec(this.notConnected('exec'));
    // what a new command does may change what an earlier lookup found
    this.lookup = undefined;
    const path = this.lookedUp;
    return startExec(
      connection,
      request,
      {
        ...this.commandSettings,
        ...(path !== undefined ? { haltReport: { path, token: this.haltToken } } : {}),
        onExited: (reported) => this.lookAgain(connection, path, reported),
      },
      this.track,
    );
  }

  interact(request: InteractiveRequest): InteractiveExec {
    const connection = this.connection;
    if (!connection) return failedInteractive(this.notConnected('interact'));
    this.lookup = undefined;
    return startInteractive(connection, request, this.commandSettings, this.track);
  }

  /** A direct-tcpip channel of the job's connection: `host` as the VM resolves it. */
  async connect(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    const connection = this.connection;
    if (!connection) throw this.notConnected('connect');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ExecutorError(`cannot connect to ${host}:${port}: ${port} is not a TCP port`);
    signal?.throwIfAborted();
    const channel = await connection.forward(host, port);
    channel.on('error', () => undefined);
    if (signal?.aborted) {
      channel.close();
      throw new ExecutorError(`cannot connect to ${host}:${port}: cancelled`);
    }
    return channel;
  }

  copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void> {
    const connection = this.connection;
    if (!connection) {
      tar.resume();
      return Promise.reject(this.notConnected('copyIn'));
    }
    return copyIn(connection, this.copySettings, destinationDir, tar, signal);
  }

  async copyOut(sourcePath: string, signal?: AbortSignal): Promise<Readable> {
    const connection = this.connection;
    if (!connection) throw this.notConnected('copyOut');
    return copyOut(connection, this.copySettings, sourcePath, signal);
  }

  async exists(path: string): Promise<boolean> {
    const connection = this.connection;
    if (!connection) throw this.notConnected('exists');
    const ahead = this.lookup;
    this.lookup = undefined;
    this.lookedUp = path;
    if (ahead?.path === path) return ahead.answer;
    return exists(connection, path);
  }

  /**
   * The runner asks whether the halt marker exists after every step: over SSH that is a round
   * trip of its own, a tenth of a short step. So a command is asked to report the path last
   * asked about as its shell exits (remote-command.ts, haltTrap), and the next exists() of that
   * path takes the answer. A command that reported nothing (another shell, its own EXIT trap,
   * its stdout sent elsewhere) has the path looked up over SFTP the moment it ends instead.
   */
  private lookAgain(connection: VmConnection, reportedPath: string | undefined, reported: boolean | undefined): void {
    const path = this.lookedUp;
    if (path === undefined || connection.lost) return;
    if (reported !== undefined && reportedPath === path) {
      this.lookup = { path, answer: Promise.resolve(reported) };
      return;
    }
    const answer = exists(connection, path);
    answer.catch(() => undefined);
    this.lookup = { path, answer };
  }

  /**
   * Kills the process groups of the commands still running, closes the connection and gives the
   * VM back. Safe at any time and more than once; a VM that was lost is given back all the same.
   */
  async teardown(): Promise<void> {
    this.tornDown = true;
    this.closing.abort();
    await this.preparing?.catch(() => undefined);
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.lost) {
      await this.killRunning(connection).catch(() => undefined);
      await connection.close();
    }
    this.released ??= this.options.release().catch((error: unknown) => {
      // a failed release may be tried again by a later teardown
      this.released = undefined;
      throw error instanceof ExecutorError ? error : new ExecutorError(`cannot release VM ${this.where}: ${error instanceof Error ? error.message : String(error)}`);
    });
    await this.released;
  }

  /** SIGKILL to every group still running, at once, as removing a container would. */
  private async killRunning(connection: VmConnection): Promise<void> {
    const commands = [...this.running];
    if (commands.length === 0) return;
    const known = async (viaSudo: boolean): Promise<number[]> => {
      // a command that has only just started reports its group a moment later
      const wait = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), GROUP_WAIT_MS).unref());
      const groups = await Promise.all(commands.filter((c) => c.viaSudo === viaSudo).map((c) => Promise.race([c.group, wait])));
      return groups.filter((g): g is number => g !== undefined);
    };
    const kills = [false, true].map(async (viaSudo) => {
      const groups = await known(viaSudo);
      if (groups.length > 0) await sendSignal(connection, groups, 'SIGKILL', viaSudo);
    });
    await Promise.race([Promise.allSettled(kills), new Promise((resolve) => setTimeout(resolve, TEARDOWN_KILL_MS).unref())]);
  }

  /** counts a command among those teardown kills, until it ends */
  private readonly track = (command: Tracked): (() => void) => {
    this.running.add(command);
    return () => this.running.delete(command);
  };

  private notConnected(operation: string): ExecutorError {
    if (this.tornDown) return new ExecutorError(`${operation}() after teardown(); the VM ${this.where} has been given back`);
    return new ExecutorError(`${operation}() before prepare() finished; await prepare() first`);
  }
}
