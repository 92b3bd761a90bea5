// The Executor contract: the one surface that steps are
// written against. A Docker job (primary + service containers) and a machine
// reached over SSH both implement it, so a step never knows which it runs on.
//
// Lifecycle: construct (with the containers to run) → prepare() once →
// any number of exec()/copyIn()/copyOut() → teardown(). teardown() may be
// called at any time, more than once, and after any failure: it removes
// everything the executor created.

import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import { DeckhandError } from '../errors.js';

/** One command to run in the primary container. */
export interface ExecRequest {
  /** argv; no shell is added, so pass ['/bin/sh', '-c', script] for a script. */
  command: string[];
  /** Added to the container's environment for this command only. */
  env?: Record<string, string>;
  /** Directory the command starts in; the container's default when absent. */
  workingDirectory?: string;
  /** User to run as; the container's user when absent. */
  user?: string;
  /**
   * Aborting sends SIGTERM to the command's process group, then SIGKILL
   * after the executor's grace period. `exit` then resolves with aborted: true.
   */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** The command's exit status; 128+n when it died of signal n. */
  exitCode: number;
  /** True when the request's AbortSignal fired before the command ended. */
  aborted: boolean;
}

/**
 * A command that has been handed to the executor. The streams carry the
 * command's bytes unchanged and end when it exits; they buffer until read,
 * and a slow reader slows the command down rather than losing output.
 */
export interface RunningExec {
  stdout: Readable;
  stderr: Readable;
  /** Resolves once the command has exited and both streams have ended;
   *  rejects with ExecutorError when the command could not be run at all. */
  exit: Promise<ExecResult>;
  /** Sends a signal (e.g. 'SIGINT') to the command's process group. */
  signal(name: NodeJS.Signals): Promise<void>;
}

/** A terminal's size in character cells. */
export interface TerminalSize {
  columns: number;
  rows: number;
}

/**
 * A command run with its stdin open, on a pseudo-terminal if asked: what a person drives through
 * an SSH session (a shell, `ssh HOST CMD`, sftp-server). No AbortSignal: its owner ends it with
 * close() when the person goes.
 */
export interface InteractiveRequest {
  /** argv; no shell is added */
  command: string[];
  /** added to the primary's environment for this command only */
  env?: Record<string, string>;
  workingDirectory?: string;
  /** the container's (or the VM login's) user when absent */
  user?: string;
  /** a pseudo-terminal of this type ($TERM) and size; absent: pipes, stdout and stderr apart */
  tty?: TerminalSize & { term: string };
}

/**
 * A running interactive command. With a terminal, everything it shows comes on stdout (a
 * terminal has one output) and stderr ends empty; Ctrl-C is the byte 0x03 written to stdin,
 * which the terminal turns into SIGINT for the foreground process group, as on any terminal.
 */
export interface InteractiveExec {
  /** the command's stdin; end() gives it end-of-file */
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** as RunningExec's: settles once the command exited and both streams ended */
  exit: Promise<ExecResult>;
  /** a new terminal size: the command gets SIGWINCH; nothing without a terminal */
  resize(size: TerminalSize): Promise<void>;
  /** a signal to the command's process group */
  signal(name: NodeJS.Signals): Promise<void>;
  /** ends it as a hang-up does: SIGHUP, then SIGKILL after the executor's grace period; resolves
   *  once it has exited. Idempotent. */
  close(): Promise<void>;
}

/** A short POSIX sh script the runner needs run first in the primary (`/bin/sh -c script sh args…`). */
export interface StartupScript {
  script: string;
  args: string[];
}

/** How a startup script ended; `output` is its stdout and stderr together. */
export interface StartupOutcome {
  exitCode: number;
  output: string;
}

export interface Executor {
  /** Makes the job's containers (or machine) ready. Call once. On failure
   *  it has already removed whatever it had created. An executor may run
   *  `startup` as part of starting the primary (Docker: in its idle command,
   *  which saves an exec round trip of ~100 ms) and return its outcome;
   *  undefined means it did not, and the caller runs the script with exec(). */
  prepare(signal?: AbortSignal, startup?: StartupScript): Promise<StartupOutcome | undefined>;
  exec(request: ExecRequest): RunningExec;
  /** Unpacks a tar stream into a directory of the primary, creating the
   *  directory if needed. Ownership and modes come from the tar headers. */
  copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void>;
  /** A tar stream of a file or directory of the primary; its entries are
   *  named after the last path component (as `tar -C dirname -c basename`). */
  copyOut(sourcePath: string, signal?: AbortSignal): Promise<Readable>;
  /** Whether a path exists in the primary — cheaper than an exec (the runner
   *  checks for `circleci-agent step halt`'s marker after every step). */
  exists(path: string): Promise<boolean>;
  /** Starts a command with its stdin open and, if asked, on a pseudo-terminal. */
  interact(request: InteractiveRequest): InteractiveExec;
  /**
   * A TCP connection to `port` of `host` as the primary sees it (`localhost`, a service
   * container's name): what `ssh -L` forwards to. Rejects with ExecutorError when the executor
   * cannot reach that host or nothing accepts the connection.
   */
  connect(host: string, port: number, signal?: AbortSignal): Promise<Duplex>;
  /** A network of the job's own that a VM may join so that the job reaches it (Docker's isolated
   *  network, for setup_remote_docker); absent or undefined when there is none. */
  jobNetwork?(): string | undefined;
  /** Removes every container, network and volume this executor created.
   *  Idempotent, and safe to call before, during or after prepare(). */
  teardown(): Promise<void>;
}

/** A failure to tell the user about: the message is one line that says what
 *  failed, where, and how to fix it. The job's environment could not be made
 *  or used (an image, a container, a copy): not the job's own failure. */
export class ExecutorError extends DeckhandError {
  override readonly name: string = 'ExecutorError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, 'infrastructure', options);
  }
}

/** The engine or machine behind an executor cannot be reached (stopped, crashed, unplugged):
 *  an infrastructure failure, not the job's own. */
export class ExecutorUnavailableError extends ExecutorError {
  override readonly name: string = 'ExecutorUnavailableError';
}

/** A command that failed before it started: empty output, `exit` rejected with `error`. */
export function failedExec(error: ExecutorError): RunningExec {
  const exit = Promise.reject(error);
  exit.catch(() => undefined);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.end();
  stderr.end();
  return { stdout, stderr, exit, signal: async () => undefined };
}

/** An interactive command that failed before it started: as failedExec, with a stdin nobody reads. */
export function failedInteractive(error: ExecutorError): InteractiveExec {
  return { ...failedExec(error), stdin: new PassThrough(), resize: async () => undefined, close: async () => undefined };
}
