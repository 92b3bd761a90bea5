// Running one command in a container through the Engine API's exec calls,
// with demultiplexed output, its exit code, signals and abort.
//
// The Engine API cannot signal an exec. So every command starts under a tiny
// /bin/sh wrapper that records its PID in a file and then exec()s the
// command (same PID). The engine makes each exec a session and process-group
// leader, so a second exec can signal the whole group: `kill -- -PID`.

import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { ExecutorError, ExecutorUnavailableError, type ExecRequest, type ExecResult, type RunningExec } from '../executor.js';
import { escalateOnAbort } from '../abort-escalation.js';
import { demultiplex } from './demux.js';
import { engineMessage, engineStatus, isUnreachable, unreachableMessage } from './engine.js';

export interface ExecSettings {
  /** How long an aborted command gets between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** Buffered output per stream before the command is slowed down. */
  highWaterMark?: number;
}

// Records the PID, then becomes the command ("$@"). A failed write must not
// stop the command. The PID file name is hex only, so safe to embed.
const wrapper = (pidFile: string): string => `{ echo $$ > ${pidFile}; } 2>/dev/null; exec "$@"`;

// Waits (up to 5 s) for the PID file of a just-started command, then signals
// its process group, once. dash wants `--` before a negative PID; busybox takes
// `--` for a bad PID, yet signals the group and only then fails, so trying one
// form after the other would deliver the signal twice. Which form the shell's
// kill takes is asked first, with signal 0 to the shell itself.
export const SIGNALLER =
  'i=0; while [ ! -s "$0" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; ' +
  'p=$(cat "$0" 2>/dev/null) || exit 0; ' +
  '{ if kill -s 0 -- $$; then kill -s "$1" -- "-$p"; else kill -s "$1" "-$p"; fi; } 2>/dev/null; exit 0';

/** How long the engine may take to report an exit once output has ended. */
const EXIT_REPORT_MS = 5_000;
/** A step's container stopped under it: the engine may be on its way down (teardown waits for it). */
export class ContainerStoppedError extends ExecutorUnavailableError {
  override readonly name: string = 'ContainerStoppedError';
}

/** How long a signalled command's container is watched for stopping too. */
const STILL_RUNNING_MS = 500;

export function startExec(container: Docker.Container, request: ExecRequest, settings: ExecSettings): RunningExec {
  const stdout = new PassThrough({ highWaterMark: settings.highWaterMark ?? 1 << 20 });
  const stderr = new PassThrough({ highWaterMark: settings.highWaterMark ?? 1 << 20 });
  const pidFile = `/tmp/.deckhand-exec-${randomBytes(8).toString('hex')}.pid`;
  let finished = false;
  let aborted = false;

  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (finished) return;
    await sendSignal(container, pidFile, name);
  };

  const run = async (): Promise<ExecResult> => {
    if (request.signal?.aborted) {
      aborted = true;
      return { exitCode: -1, aborted };
    }
    const exec = await createExec(container, request, pidFile);
    let output: Readable;
    try {
      output = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
    } catch (error) {
      throw describeFailure(error, request);
    }

    // as a last resort, stop reading a stream that a stray process keeps open
    const escalation = escalateOnAbort(request.signal, { signal, killGraceMs: settings.killGraceMs, lastResort: () => output.destroy(), lastResortMs: EXIT_REPORT_MS });
    try {
      await demultiplex(output, stdout, stderr);
    } catch (error) {
      // Destroyed by the abort fallback: report what is known below.
      if (!escalation.aborted) throw isUnreachable(error) ? describeFailure(error, request) : new ExecutorError(`lost the output of "${request.command.join(' ')}": ${engineMessage(error)}`);
    } finally {
      escalation.dispose();
    }
    aborted = escalation.aborted;
    // A stray child that outlived SIGKILL keeps the exec "running": after an
    // abort, report it as killed rather than wait.
    const exitCode = await exitCodeOf(exec).catch((error: unknown) => {
      if (aborted) return 137;
      throw describeFailure(error, request);
    });
    if (!aborted && exitCode >= 128) await assertContainerRuns(container, exitCode, request);
    return { exitCode, aborted };
  };

  const exit = run().finally(() => {
    finished = true;
    stdout.end();
    stderr.end();
  });
  // The caller may only look at `exit` after reading the streams.
  exit.catch(() => undefined);
  return { stdout, stderr, exit, signal };
}

async function createExec(container: Docker.Container, request: ExecRequest, pidFile: string): Promise<Docker.Exec> {
  if (request.command.length === 0) throw new ExecutorError('cannot run an empty command; give at least the program to run');
  try {
    return await container.exec({
      // $0 is 'sh' so that a missing program reads as the shell's usual error.
      Cmd: ['/bin/sh', '-c', wrapper(pidFile), 'sh', ...request.command],
      Env: Object.entries(request.env ?? {}).map(([key, value]) => `${key}=${value}`),
      ...(request.workingDirectory ? { WorkingDir: request.workingDirectory } : {}),
      ...(request.user ? { User: request.user } : {}),
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
  } catch (error) {
    throw describeFailure(error, request);
  }
}

/** The engine reports the exit code a moment after the output ends. */
export async function exitCodeOf(exec: Docker.Exec): Promise<number> {
  const deadline = Date.now() + EXIT_REPORT_MS;
  for (;;) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    if (Date.now() > deadline) {
      throw new ExecutorError('the Docker engine did not report the exit code of a finished command within 5 s; check the engine (dockerd log)');
    }
    await sleep(20);
  }
}

/**
 * A command killed by a signal while its container stopped was not the job's doing: the engine
 * is shutting down (it kills exec'd processes a moment before it marks their container exited)
 * or someone stopped the container. Either way an infrastructure failure, not a failed step. A
 * command killed inside a container that keeps running (the OOM killer, say) stays the step's
 * own failure, as on CircleCI; telling the two apart costs such a step half a second.
 */
async function assertContainerRuns(container: Docker.Container, exitCode: number, request: ExecRequest): Promise<void> {
  const what = `"${request.command.join(' ')}"`;
  const runningUntil = Date.now() + STILL_RUNNING_MS;
  let stoppedUntil: number | undefined;
  for (;;) {
    let state: Docker.ContainerInspectInfo['State'];
    try {
      state = (await container.inspect()).State;
    } catch (error) {
      if (isUnreachable(error)) throw new ExecutorUnavailableError(unreachableMessage(error));
      if (engineStatus(error) === 404) throw new ExecutorUnavailableError(`the primary container was removed while ${what} ran (exit ${exitCode}): something outside the job removed it; rerun the job`);
      throw describeFailure(error, request);
    }
    if (state.Running) {
      if (Date.now() > runningUntil) return;
    } else {
      // an engine on its way down stops answering soon after: wait a moment, since that is the cause to name
      stoppedUntil ??= Date.now() + STILL_RUNNING_MS;
      if (Date.now() > stoppedUntil) {
        const oom = state.OOMKilled ? ', its entrypoint killed by the OOM killer' : '';
        throw new ContainerStoppedError(`the primary container stopped while ${what} ran (exit ${exitCode}${oom}): the engine shut down or someone stopped it; rerun the job`);
      }
    }
    await sleep(100);
  }
}

export async function sendSignal(container: Docker.Container, pidFile: string, name: NodeJS.Signals): Promise<void> {
  const exec = await container.exec({
    Cmd: ['/bin/sh', '-c', SIGNALLER, pidFile, name.replace(/^SIG/, '')],
    User: '0',
    AttachStdout: false,
    AttachStderr: false,
  });
  // Detached: the engine answers at once; drop the (empty) response so its
  // socket does not linger.
  const response = (await exec.start({ Detach: true })) as unknown as Readable | undefined;
  response?.destroy();
  // Detached: wait for the signaller to finish, boundedly.
  const deadline = Date.now() + 10_000;
  while ((await exec.inspect()).Running && Date.now() < deadline) await sleep(20);
}

export function describeFailure(error: unknown, request: Pick<ExecRequest, 'command'>): ExecutorError {
  if (error instanceof ExecutorError) return error;
  if (isUnreachable(error)) return new ExecutorUnavailableError(unreachableMessage(error));
  const what = `cannot run "${request.command.join(' ')}" in the primary container`;
  const status = engineStatus(error);
  if (status === 404 || status === 409) {
    return new ExecutorError(`${what}: the container is gone or stopped (${engineMessage(error)}); check that its entrypoint keeps running`);
  }
  return new ExecutorError(`${what}: ${engineMessage(error)}`);
}
