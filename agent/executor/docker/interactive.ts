// An interactive command in the primary: the Engine API's exec with stdin attached (the hijacked
// connection carries stdin one way and the output the other) and, when asked, a TTY whose size
// the engine sets (POST /exec/{id}/resize). Signals go as for every exec: the command records its
// PID, and a second exec signals its process group (exec.ts).

import { randomBytes } from 'node:crypto';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { ExecutorError, type ExecResult, type InteractiveExec, type InteractiveRequest, type TerminalSize } from '../executor.js';
import { hangUp } from '../hang-up.js';
import { demultiplex } from './demux.js';
import { describeFailure, exitCodeOf, sendSignal } from './exec.js';

export interface InteractiveSettings {
  /** between SIGHUP and SIGKILL when the command is closed */
  killGraceMs: number;
}

/** How long a killed command's output may stay open (a stray process holding the terminal). */
const AFTER_KILL_MS = 5_000;

/**
 * Records the PID, sets the terminal's size before the command starts (engines before API 1.42
 * cannot create an exec with a console size, and a resize right after start races the command's
 * first look at it), then becomes the command. A missing stty is no failure: the resize call follows.
 */
function wrapper(pidFile: string, size: TerminalSize | undefined): string {
  const stty = size ? ` stty rows ${Math.trunc(size.rows)} cols ${Math.trunc(size.columns)};` : '';
  return `{ echo $$ > ${pidFile};${stty} } 2>/dev/null; exec "$@"`;
}

export function startInteractive(container: Docker.Container, request: InteractiveRequest, settings: InteractiveSettings): InteractiveExec {
  const stdin = new PassThrough();
  const stdout = new PassThrough({ highWaterMark: 1 << 20 });
  const stderr = new PassThrough({ highWaterMark: 1 << 20 });
  const pidFile = `/tmp/.deckhand-exec-${randomBytes(8).toString('hex')}.pid`;
  const tty = request.tty;
  let exec: Docker.Exec | undefined;
  let socket: Duplex | undefined;
  let finished = false;
  let closing: Promise<void> | undefined;
  // the size last asked for, applied once the exec exists
  let size: TerminalSize | undefined = tty ? { columns: tty.columns, rows: tty.rows } : undefined;
  // resize calls one after another: two in flight may reach the engine in either order, and an
  // older size landing last would undo the newer one
  let resizing: Promise<void> = Promise.resolve();
  const applySize = (next: TerminalSize): Promise<void> => {
    resizing = resizing.then(() => exec?.resize({ h: next.rows, w: next.columns }).catch(() => undefined));
    return resizing;
  };

  const run = async (): Promise<ExecResult> => {
    if (request.command.length === 0) throw new ExecutorError('cannot run an empty command; give at least the program to run');
    const sizeAtStart = size;
    try {
      exec = await container.exec({
        Cmd: ['/bin/sh', '-c', wrapper(pidFile, size), 'sh', ...request.command],
        Env: Object.entries({ ...request.env, ...(tty ? { TERM: tty.term } : {}) }).map(([key, value]) => `${key}=${value}`),
        ...(request.workingDirectory ? { WorkingDir: request.workingDirectory } : {}),
        ...(request.user ? { User: request.user } : {}),
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: tty !== undefined,
      });
      socket = (await exec.start({ hijack: true, stdin: true, Tty: tty !== undefined })) as unknown as Duplex;
    } catch (error) {
      throw describeFailure(error, request);
    }
    // a resize asked for while the exec was being made (the wrapper's stty set the size it started with)
    if (size && size !== sizeAtStart) void applySize(size);
    socket.on('error', () => undefined);
    // stdin's end half-closes the connection: the engine then closes the command's stdin
    stdin.pipe(socket);
    try {
      if (tty) await copy(socket, stdout);
      else await demultiplex(socket, stdout, stderr);
    } catch (error) {
      if (!closing) throw new ExecutorError(`lost the terminal of "${request.command.join(' ')}": ${error instanceof Error ? error.message : String(error)}`);
    }
    const exitCode = await exitCodeOf(exec).catch((error: unknown) => {
      if (closing) return 137;
      throw describeFailure(error, request);
    });
    return { exitCode, aborted: false };
  };

  const exit = run().finally(() => {
    finished = true;
    stdin.unpipe();
    stdout.end();
    stderr.end();
  });
  exit.catch(() => undefined);

  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (finished) return;
    await sendSignal(container, pidFile, name);
  };

  return {
    stdin,
    stdout,
    stderr,
    exit,
    async resize(next) {
      if (!tty || finished) return;
      size = { columns: next.columns, rows: next.rows };
      if (exec) await applySize(size);
    },
    signal,
    close() {
      // the last resort: a stray process keeps the terminal open, so stop reading it
      closing ??= hangUp(exit, { signal, killGraceMs: settings.killGraceMs, lastResort: () => socket?.destroy(), lastResortMs: AFTER_KILL_MS });
      return closing;
    },
  };
}

/** The raw TTY stream into `target`, waiting for a slow reader. */
async function copy(source: Readable, target: PassThrough): Promise<void> {
  for await (const chunk of source as AsyncIterable<Buffer>) {
    if (!target.destroyed && !target.write(chunk)) await new Promise<void>((resolve) => {
      target.once('drain', resolve);
      target.once('close', resolve);
    });
  }
}
