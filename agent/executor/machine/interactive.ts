// An interactive command on the VM: a session channel of the job's connection with its stdin
// open and, when asked, a pseudo-terminal (SSH's pty-req; resizes go as window-change). The
// command reports its process group first, as every command here does (remote-command.ts): on a
// terminal that line ends in CR LF, and it is taken out of what the person sees.

import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientChannel } from 'ssh2';
import { ExecutorError, type ExecResult, type InteractiveExec, type InteractiveRequest } from '../executor.js';
import { hangUp } from '../hang-up.js';
import { CommandOutput } from './command-output.js';
import { sessionEnd, type VmConnection } from './connection.js';
import { exitCodeOf, sendSignal, type Tracked } from './exec.js';
import { execCommandLine } from './remote-command.js';

export interface InteractiveSettings {
  /** between SIGHUP and SIGKILL when the command is closed */
  killGraceMs: number;
  loginUser: string;
  markerToken: string;
  highWaterMark?: number;
}

/** How long a signal waits for the command to say which group it is. */
const GROUP_WAIT_MS = 5_000;
/** How long a killed command may keep its channel open (a stray process holding the terminal). */
const AFTER_KILL_MS = 5_000;

export function startInteractive(connection: VmConnection, request: InteractiveRequest, settings: InteractiveSettings, track: (command: Tracked) => () => void): InteractiveExec {
  const highWaterMark = settings.highWaterMark ?? 1 << 20;
  const stdin = new PassThrough();
  const stdout = new CommandOutput(highWaterMark, settings.markerToken);
  const stderr = new CommandOutput(highWaterMark);
  const what = `run "${request.command.join(' ').replace(/\s+/g, ' ').slice(0, 80)}"`;
  const tty = request.tty;
  let channel: ClientChannel | undefined;
  let viaSudo = false;
  let over = false;
  let closing: Promise<void> | undefined;
  let size = tty ? { columns: tty.columns, rows: tty.rows } : undefined;

  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (over) return;
    const group = await Promise.race([stdout.group, sleep(GROUP_WAIT_MS, undefined, { ref: false })]);
    if (group === undefined || over) return;
    await sendSignal(connection, [group], name, viaSudo);
  };

  const run = async (): Promise<ExecResult> => {
    if (request.command.length === 0) throw new ExecutorError('cannot run an empty command; give at least the program to run');
    const commandLine = execCommandLine(request, settings.markerToken, settings.loginUser, true);
    viaSudo = commandLine.viaSudo;
    const opened = await connection.exec(commandLine.line, what, tty && size ? { term: tty.term, rows: size.rows, cols: size.columns, width: 0, height: 0 } : undefined);
    channel = opened;
    const untrack = track({ group: stdout.group, viaSudo });
    const status = sessionEnd(connection, opened);
    opened.stderr.on('error', () => undefined);
    stdout.follow(opened);
    stderr.follow(opened.stderr);
    stdin.pipe(opened);
    // a resize asked for while the channel was being opened
    if (size && (size.rows !== tty?.rows || size.columns !== tty?.columns)) opened.setWindow(size.rows, size.columns, 0, 0);
    try {
      const end = await status;
      await Promise.all([stdout.ended, stderr.ended]);
      return { exitCode: exitCodeOf(end, closing !== undefined, what, connection.where), aborted: false };
    } finally {
      untrack();
    }
  };

  const exit = run().finally(() => {
    over = true;
    stdin.unpipe();
    stdout.finish();
    stderr.finish();
  });
  exit.catch(() => undefined);

  return {
    stdin,
    stdout,
    stderr,
    exit,
    async resize(next) {
      if (!tty || over) return;
      size = { columns: next.columns, rows: next.rows };
      channel?.setWindow(next.rows, next.columns, 0, 0);
    },
    signal,
    close() {
      closing ??= hangUp(exit, { signal, killGraceMs: settings.killGraceMs, lastResort: () => channel?.close(), lastResortMs: AFTER_KILL_MS });
      return closing;
    },
  };
}
