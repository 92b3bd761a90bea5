// One command on the VM: a session channel of the job's connection, its stdout and stderr apart,
// its exit status, and signals to its process group.
//
// OpenSSH ignores SSH's own `signal` request on sessions without a terminal, so signals go the
// way they do in a container: the command reports its process group first (group-marker.ts), and
// `kill -s SIG -- -PGID` runs on a second channel. Output keeps SSH's flow control: the channel's
// window is only reopened as the reader takes bytes, so a slow reader slows the command down.

import { constants } from 'node:os';
import { escalateOnAbort } from '../abort-escalation.js';
import { ExecutorError, type ExecRequest, type ExecResult, type RunningExec } from '../executor.js';
import { sessionEnd, type SessionEnd, type VmConnection } from './connection.js';
import { CommandOutput } from './command-output.js';
import { execCommandLine, signalCommandLine, type HaltReport } from './remote-command.js';

export interface ExecSettings {
  /** between SIGTERM and SIGKILL when the request's signal aborts it */
  killGraceMs: number;
  /** the user the connection logged in as */
  loginUser: string;
  /** per-executor random hex that marks the process-group line */
  markerToken: string;
  /** buffered output per stream before the command is slowed down */
  highWaterMark?: number;
  /** a path whose existence the command reports as it ends (a bash step in a bash login shell) */
  haltReport?: HaltReport;
  /** called once the VM reports the command's end, with what it reported of `haltReport.path` (undefined: nothing) */
  onExited?: (reported: boolean | undefined) => void;
}

/** How long a command may keep its channel open after SIGKILL (a stray child holding stdout). */
const AFTER_KILL_MS = 5_000;
/** How long a signal waits for the command to say which group it is. */
const GROUP_WAIT_MS = 5_000;

/** A running command, as the executor tracks it for teardown. */
export interface Tracked {
  /** its process group, once known */
  group: Promise<number | undefined>;
  viaSudo: boolean;
}

export function startExec(connection: VmConnection, request: ExecRequest, settings: ExecSettings, track: (command: Tracked) => () => void): RunningExec {
  const highWaterMark = settings.highWaterMark ?? 1 << 20;
  const stdout = new CommandOutput(highWaterMark, settings.markerToken, settings.haltReport?.token);
  const stderr = new CommandOutput(highWaterMark);
  // one line, whatever the script: it goes into error messages
  const what = `run "${request.command.join(' ').replace(/\s+/g, ' ').slice(0, 80)}"`;
  let viaSudo = false;
  // whether the command started: a signal sent meanwhile waits for it
  let markStarted!: (started: boolean) => void;
  const started = new Promise<boolean>((resolve) => (markStarted = resolve));
  let over = false;
  let aborted = false;

  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (over || !(await started)) return;
    const group = await Promise.race([stdout.group, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), GROUP_WAIT_MS).unref())]);
    if (group === undefined || over) return;
    await sendSignal(connection, [group], name, viaSudo);
  };

  const run = async (): Promise<ExecResult> => {
    if (request.signal?.aborted) {
      aborted = true;
      return { exitCode: -1, aborted };
    }
    if (request.command.length === 0) throw new ExecutorError('cannot run an empty command; give at least the program to run');
    const commandLine = execCommandLine(request, settings.markerToken, settings.loginUser, false, settings.haltReport);
    viaSudo = commandLine.viaSudo;
    const opened = await connection.exec(commandLine.line, what);
    markStarted(true);
    const untrack = track({ group: stdout.group, viaSudo });

    const status = sessionEnd(connection, opened);
    opened.on('error', () => undefined);
    opened.stderr.on('error', () => undefined);
    stdout.follow(opened);
    stderr.follow(opened.stderr);
    if (commandLine.stdin !== undefined) opened.end(commandLine.stdin);
    else opened.end();

    // as a last resort, close the channel that a stray process keeps open
    const escalation = escalateOnAbort(request.signal, { signal, killGraceMs: settings.killGraceMs, lastResort: () => opened.close(), lastResortMs: AFTER_KILL_MS });
    try {
      const exit = await status;
      // the report came before the exit status on the same channel: it has been read by now,
      // unless a slow reader held the output back (then it is looked up as before)
      settings.onExited?.(stdout.halt);
      await Promise.all([stdout.ended, stderr.ended]);
      aborted = escalation.aborted;
      return { exitCode: exitCodeOf(exit, aborted, what, connection.where), aborted };
    } finally {
      escalation.dispose();
      untrack();
    }
  };

  const exit = run().finally(() => {
    over = true;
    markStarted(false);
    // ends the streams whatever happened (a lost connection, a channel that never opened)
    stdout.finish();
    stderr.finish();
  });
  // the caller may only look at `exit` after reading the streams
  exit.catch(() => undefined);
  return { stdout, stderr, exit, signal };
}

/** Runs `kill` for `groups` on a channel of its own, and waits for it. */
export async function sendSignal(connection: VmConnection, groups: number[], name: NodeJS.Signals, viaSudo: boolean): Promise<void> {
  const channel = await connection.exec(signalCommandLine(groups, name.replace(/^SIG/, ''), viaSudo), `send ${name}`);
  channel.on('error', () => undefined);
  channel.resume();
  channel.stderr.resume();
  channel.end();
  await new Promise<void>((resolve) => channel.once('close', () => resolve()));
}

export function exitCodeOf(exit: SessionEnd, aborted: boolean, what: string, where: string): number {
  if (exit.code !== undefined) return exit.code;
  if (exit.signal) {
    const number = (constants.signals as Record<string, number | undefined>)[exit.signal];
    return 128 + (number ?? 0);
  }
  // no status: the channel was closed on a command that outlived SIGKILL's group (aborted)
  if (aborted) return 137;
  throw new ExecutorError(`cannot ${what} on VM ${where}: its session ended without an exit status; check the VM's sshd log`);
}
