/**
 * One SSH session channel, run in the job through the executor's interactive commands, as sshd
 * runs one on its host: `env` and `pty-req` first; then a shell (a login shell on the terminal),
 * an exec (`ssh HOST CMD`: the command through the job's shell, exit status and stderr apart) or
 * the `sftp` subsystem (the image's own sftp-server, which `scp` uses too); `window-change` and
 * `signal` while it runs. The session ends with the command's exit status; a client that goes
 * away hangs the command up.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ServerChannel, Session } from 'ssh2';
import type { Executor, InteractiveExec, TerminalSize } from '../executor/executor.js';

/** Exit status of the sftp-server command when the image has none (a shell's "command not found"). */
export const NO_SFTP_SERVER = 127;

/** Where and how sessions run in the job. */
export interface SessionTarget {
  executor: Executor;
  /** the job's environment for its steps, its PATH included */
  environment: Record<string, string>;
  workingDirectory: string;
  /** the primary's shell: `/bin/bash` when it has one, else `/bin/sh` */
  shell: string;
  /** the startup file of the sessions' shells (shell-rc.ts), already in the primary */
  rcFile: string;
  /** the command that runs the image's sftp-server; it exits with `NO_SFTP_SERVER` when there is none */
  sftpServer: string[];
}

export interface SessionHooks {
  /** a line for the job's output */
  log(line: string): void;
  /** called once the session's command has started, with how to close it; returns the call to make when it has ended */
  started(close: () => Promise<void>): () => void;
}

/** The variables a client may set, as Debian's sshd_config accepts them (AcceptEnv). */
const ACCEPTED_ENV = /^(LANG|LC_[A-Z_]+|COLORTERM|NO_COLOR)$/;
/** RFC 4254's signal names. */
const SIGNALS = new Set(['ABRT', 'ALRM', 'FPE', 'HUP', 'ILL', 'INT', 'KILL', 'PIPE', 'QUIT', 'SEGV', 'TERM', 'USR1', 'USR2']);
/** What a client may set its terminal to, at most (a larger one is a mistake or an attack). */
const MAX_CELLS = 10_000;

export function serveSession(session: Session, target: SessionTarget, hooks: SessionHooks): void {
  const clientEnv: Record<string, string> = {};
  let terminal: (TerminalSize & { term: string }) | undefined;
  let running: InteractiveExec | undefined;
  let input: ServerChannel | undefined;
  /** resizes in order, each done before the keys typed after it go on (sshd's ioctl is in line too) */
  let resizing: Promise<void> = Promise.resolve();
  let pendingResizes = 0;

  session.on('env', (accept, reject, info) => {
    if (ACCEPTED_ENV.test(info.key) && info.val.length <= 4096) {
      clientEnv[info.key] = info.val;
      accept?.();
    } else reject?.();
  });
  session.on('pty', (accept, reject, info) => {
    terminal = { term: info.term || 'xterm', ...size(info.cols, info.rows) };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    const next = size(info.cols, info.rows);
    if (terminal) terminal = { ...terminal, ...next };
    accept?.();
    const run = running;
    const channel = input;
    if (!run || !channel) return;
    if (pendingResizes++ === 0) {
      channel.unpipe(run.stdin);
      channel.pause();
    }
    resizing = resizing
      .then(() => run.resize(next))
      .catch(() => undefined)
      .finally(() => {
        if (--pendingResizes === 0) channel.pipe(run.stdin);
      });
  });
  session.on('signal', (accept, reject, info) => {
    const name = String(info.name).replace(/^SIG/, '');
    if (!running || !SIGNALS.has(name)) return reject?.();
    void running.signal(`SIG${name}` as NodeJS.Signals).catch(() => undefined);
    accept?.();
  });
  session.on('shell', (accept) => {
    const channel = accept();
    const shell = loginShell(target, terminal !== undefined);
    if (channel) running = start(channel, shell.command, terminal, shell.env);
  });
  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    if (channel) running = start(channel, [target.shell, '-c', info.command], terminal);
  });
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return reject();
    // accepted at once: the client's first packet follows the request without waiting for its answer
    const channel = accept();
    // file transfers want the bytes as they are: never a terminal
    if (channel) running = start(channel, target.sftpServer, undefined, {}, (status) => {
      if (status === NO_SFTP_SERVER) hooks.log('SSH: an sftp or scp session found no sftp-server in the image; install openssh-sftp-server (Debian, Ubuntu) or openssh (Alpine) in it');
    });
  });

  function start(
    channel: ServerChannel,
    command: string[],
    tty: (TerminalSize & { term: string }) | undefined,
    env: Record<string, string> = {},
    onEnd?: (status: number) => void,
  ): InteractiveExec {
    const run = target.executor.interact({
      command,
      env: { ...target.environment, ...clientEnv, ...env },
      workingDirectory: target.workingDirectory,
      ...(tty ? { tty } : {}),
    });
    const done = hooks.started(() => run.close());
    channel.on('error', () => undefined);
    run.stdin.on('error', () => undefined);
    input = channel;
    channel.pipe(run.stdin);
    run.stdout.pipe(channel, { end: false });
    run.stderr.pipe(channel.stderr, { end: false });
    // the client went away (or closed the channel) while the command runs: hang it up
    const hangUp = (): void => void run.close().catch(() => undefined);
    channel.once('close', hangUp);
    void (async () => {
      let status = 255;
      try {
        const [result] = await Promise.all([run.exit, ended(run.stdout), ended(run.stderr)]);
        status = result.exitCode;
      } catch (error) {
        if (channel.stderr.writable) channel.stderr.write(`deckhand: ${error instanceof Error ? error.message : String(error)}\r\n`);
      }
      channel.off('close', hangUp);
      // the last output is sent before the status: a client may stop reading once it has it
      await Promise.all([flushed(channel), flushed(channel.stderr)]);
      channel.exit(status);
      channel.end();
      done();
      onEnd?.(status);
    })();
    return run;
  }
}

/**
 * On a terminal, an interactive login shell that ends up with the job's environment: bash reads
 * the rc file in place of ~/.bashrc (the file sources the login files itself), a POSIX sh reads
 * it through $ENV after its profile files. Without one (`ssh -T`), the shell reads commands from
 * stdin with the job's environment as it is ($BASH_ENV included), as a step's shell would.
 */
function loginShell(target: SessionTarget, onTerminal: boolean): { command: string[]; env: Record<string, string> } {
  if (!onTerminal) return { command: [target.shell], env: {} };
  if (target.shell.endsWith('bash')) return { command: [target.shell, '--rcfile', target.rcFile, '-i'], env: {} };
  return { command: [target.shell, '-l'], env: { ENV: target.rcFile } };
}

function size(columns: number, rows: number): TerminalSize {
  const fit = (n: number, fallback: number): number => (Number.isInteger(n) && n > 0 && n <= MAX_CELLS ? n : fallback);
  return { columns: fit(columns, 80), rows: fit(rows, 24) };
}

async function ended(stream: NodeJS.ReadableStream & { readableEnded?: boolean }): Promise<void> {
  if (stream.readableEnded) return;
  await Promise.race([once(stream, 'end'), once(stream, 'close')]).catch(() => undefined);
}

/** Resolves once what was written to `stream` has gone out (or the channel closed under it). */
async function flushed(stream: Writable): Promise<void> {
  if (stream.writableLength === 0 || !stream.writable) return;
  await Promise.race([once(stream, 'drain'), once(stream, 'close'), once(stream, 'finish')]).catch(() => undefined);
}
