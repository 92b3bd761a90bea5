/**
 * The agent process behind a task: `deckhand agent nomad-task`, started in a session of its own
 * with the task's log FIFOs as its stdout and stderr, so that it outlives the plugin process
 * (Nomad restarts plugins, and clients restart without their tasks) and its output never passes
 * through the plugin. What the plugin needs to find it again is the driver state Nomad keeps for
 * it: pid, start time, boot, and the file the agent writes its exit status to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { containerJobIdFor } from '../../../agent/nomad/task-containers.js';
import type { PluginConfig } from '../base/plugin-config.js';
import { bootId, readProcStat } from './proc.js';
import type { DeckhandTaskConfig } from './task-config.js';

/** The part of Nomad's TaskConfig the driver reads. */
export interface NomadTaskConfig {
  id: string;
  name: string;
  env: Record<string, string>;
  alloc_dir: string;
  alloc_id: string;
  stdout_path: string;
  stderr_path: string;
}

/** Kept by Nomad as the handle's driver_state (JSON), handed back to RecoverTask. */
export interface DriverState {
  version: 1;
  pid: number;
  /** /proc start time of the pid, in clock ticks after boot */
  startTime: number;
  bootId: string;
  /** where the agent writes {"exitCode": N} when it ends */
  exitFile: string;
  /** com.deckhand.job of the job's containers */
  containersId: string;
  startedAt: string;
  /** the task config's kill_timeout, to warn when the client's stop gives less */
  killTimeoutMs?: number;
}

export interface AgentExit {
  exitCode: number;
  signal: number;
  /** set when the exit is known only by its absence */
  err?: string;
}

export interface StartedAgent {
  state: DriverState;
  child: ChildProcess;
}

/** The task's folder (holding local/ and secrets/): the agent's working directory. */
export function taskRoot(task: NomadTaskConfig): string {
  return join(task.alloc_dir, task.name);
}

function taskLocalDir(task: NomadTaskConfig): string {
  return task.env.NOMAD_TASK_DIR || join(taskRoot(task), 'local');
}

/** The agent's command line for the task. */
export function agentArgs(task: NomadTaskConfig, config: DeckhandTaskConfig, plugin: PluginConfig, exitFile: string, payloadPath: string): string[] {
  const args = ['agent', 'nomad-task', '--payload', payloadPath, '--kill-timeout', config.killTimeout, '--exit-file', exitFile];
  if (plugin.store) args.push('--store', plugin.store);
  if (plugin.outputProcessor) args.push('--output-processor', plugin.outputProcessor);
  if (plugin.outputSecretFile) args.push('--output-secret-file', plugin.outputSecretFile);
  if (plugin.outputUrl) args.push('--output-url', plugin.outputUrl);
  return args;
}

/**
 * The agent's environment: the task's (Nomad's NOMAD_* variables and the job's env), over the few
 * of the plugin's own that a program needs to run (PATH, HOME, locale), and the Docker engine of
 * the plugin config. Nothing else of the plugin's: not Nomad's magic cookie.
 */
export function agentEnv(task: NomadTaskConfig, plugin: PluginConfig, own: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'XDG_CACHE_HOME']) {
    const value = own[key];
    if (value !== undefined) env[key] = value;
  }
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  Object.assign(env, task.env);
  env.DOCKER_HOST = plugin.dockerEndpoint;
  return env;
}

/** Where the task's assignment is, as a file the agent reads (an inline one is written out first). */
function assignmentFile(task: NomadTaskConfig, config: DeckhandTaskConfig, stateDir: string): string {
  switch (config.source.kind) {
    case 'payload':
      return join(taskLocalDir(task), config.source.file);
    case 'path':
      return config.source.path;
    case 'inline': {
      const file = join(stateDir, 'assignment.json');
      writeFileSync(file, config.source.text, { mode: 0o600 });
      return file;
    }
  }
}

/** The FIFO Nomad's log collector reads; opening it waits for that reader, so give up after a while. */
async function openLogFifo(path: string, timeoutMs: number): Promise<FileHandle> {
  let timer: NodeJS.Timeout | undefined;
  const opening = open(path, 'a');
  try {
    return await Promise.race([
      opening,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`nothing reads the task's log FIFO ${path} after ${timeoutMs / 1000} s (Nomad's log collector is not running?)`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    // an open still under way closes itself once it completes
    opening.then((h) => h.close()).catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the agent once `ready` resolves (a check the caller runs while the FIFOs open); if it
 * rejects, nothing is started and its error is thrown.
 */
export async function startAgent(task: NomadTaskConfig, config: DeckhandTaskConfig, plugin: PluginConfig, own: NodeJS.ProcessEnv, ready: Promise<void> = Promise.resolve(), fifoTimeoutMs = 30_000): Promise<StartedAgent> {
  const shortId = task.id.split('/').at(-1) || 'task';
  const stateDir = join(taskRoot(task), '.deckhand', shortId.replace(/[^A-Za-z0-9_.-]/g, '_'));
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const exitFile = join(stateDir, 'exit.json');
  rmSync(exitFile, { force: true });
  const payload = assignmentFile(task, config, stateDir);
  const opening = Promise.all([openLogFifo(task.stdout_path, fifoTimeoutMs), openLogFifo(task.stderr_path, fifoTimeoutMs)]);
  try {
    await ready;
  } catch (err) {
    opening.then((handles) => Promise.all(handles.map((h) => h.close()))).catch(() => undefined);
    throw err;
  }
  const [stdout, stderr] = await opening;
  try {
    const child = spawn(plugin.deckhand, agentArgs(task, config, plugin, exitFile, payload), {
      cwd: taskRoot(task),
      env: agentEnv(task, plugin, own),
      stdio: ['ignore', stdout.fd, stderr.fd],
      // a session of its own: the plugin may die and the client restart, the job goes on
      detached: true,
    });
    const spawned = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    const stat = readProcStat(spawned);
    return {
      child,
      state: {
        version: 1,
        pid: spawned,
        startTime: stat?.startTime ?? -1,
        bootId: bootId(),
        exitFile,
        containersId: containerJobIdFor({ allocId: task.alloc_id, taskName: task.name }),
        startedAt: new Date().toISOString(),
      },
    };
  } finally {
    // the child holds its own copies
    await Promise.all([stdout.close(), stderr.close()]);
  }
}

/** A process's end as Nomad's ExitResult has it: killed by a signal is 128 + its number, and the signal. */
export function exitOf(code: number | null, signal: NodeJS.Signals | null): AgentExit {
  if (signal) {
    const number = constants.signals[signal] ?? 0;
    return { exitCode: 128 + number, signal: number };
  }
  return { exitCode: code ?? -1, signal: 0 };
}

/** The exit status the agent wrote, if it did. */
export function readExitFile(path: string): AgentExit | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as { exitCode?: unknown };
    if (typeof value.exitCode === 'number') return { exitCode: value.exitCode, signal: 0 };
  } catch {
    // not written (yet, or ever)
  }
  return undefined;
}

export function encodeDriverState(state: DriverState): Buffer {
  return Buffer.from(JSON.stringify(state));
}

export function decodeDriverState(bytes: Uint8Array): DriverState {
  let value: Partial<DriverState>;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<DriverState>;
  } catch {
    throw new Error('the task handle\'s driver state is not what this driver writes (not JSON): was the task started by another driver?');
  }
  if (value.version !== 1 || typeof value.pid !== 'number' || typeof value.exitFile !== 'string' || typeof value.startTime !== 'number') {
    throw new Error(`the task handle's driver state is version ${JSON.stringify(value.version)} or incomplete; this driver reads version 1`);
  }
  return value as DriverState;
}
