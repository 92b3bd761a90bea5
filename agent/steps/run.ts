/**
 * The `run` step: the command in the job's (or the step's) shell, with the step's environment
 * and working directory, streaming its output; `no_output_timeout` (CircleCI's message),
 * `max_auto_reruns`, and `background` (the command runs on while later steps start).
 */
import type { RunStep } from '../jobspec/jobspec.js';
import { ExecutorUnavailableError, type RunningExec } from '../executor/executor.js';
import { goDuration, resolvePath, shellWords } from './shell.js';
import type { StepContext, StepHandler, StepResult } from './step.js';

/** A background command still running, for the runner to stop at the end of the job. */
export interface BackgroundCommand {
  exec: RunningExec;
  stop: AbortController;
  /** resolves with the step's result once the command ends */
  done: Promise<StepResult>;
}

export const runStep: StepHandler<RunStep> = async (step, ctx) => {
  const attempts = 1 + (step.maxAutoReruns ?? 0);
  let result: StepResult = { status: 'failed' };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      const delay = step.autoRerunDelaySeconds ?? 0;
      ctx.output.write('agent', `\nRerunning the step (attempt ${attempt} of ${attempts})${delay ? ` after ${goDuration(delay)}` : ''}\n`);
      if (delay) await sleep(delay * 1000, ctx.signal);
    }
    result = await runOnce(step, ctx).done;
    if (result.status !== 'failed') break;
  }
  return result;
};

/** Starts the command; `done` settles when it ends (used directly for background steps). */
export function runOnce(step: RunStep, ctx: StepContext): BackgroundCommand {
  const shell = step.shell ?? ctx.shell;
  ctx.output.write('agent', `#!${shell}\n${step.command}${step.command.endsWith('\n') ? '' : '\n'}\n`);
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const exec = ctx.executor.exec({
    command: [...shellWords(shell), '-c', step.command],
    env: { ...ctx.environment, ...step.environment },
    workingDirectory: step.workingDirectory ? resolvePath(step.workingDirectory, ctx.home, ctx.workingDirectory) : ctx.workingDirectory,
    signal: stop.signal,
  });
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, step.noOutputTimeoutSeconds * 1000);
  };
  arm();
  // while a slow terminal holds the command back, its silence is ours, not the command's
  const hooks = { chunk: arm, paused: () => timer && clearTimeout(timer), resumed: arm };
  const followed = Promise.all([ctx.output.follow('stdout', exec.stdout, hooks), ctx.output.follow('stderr', exec.stderr, hooks)]);
  const done = exec.exit
    .then((r): StepResult => {
      if (timedOut) {
        return { status: 'timedout', exitCode: r.exitCode, message: `Too long with no output (exceeded ${goDuration(step.noOutputTimeoutSeconds)}): context deadline exceeded` };
      }
      if (r.aborted) return { status: 'canceled', exitCode: r.exitCode, message: 'canceled' };
      return r.exitCode === 0 ? { status: 'success', exitCode: 0 } : { status: 'failed', exitCode: r.exitCode };
    })
    .catch((err: unknown): StepResult => ({ status: 'failed', message: err instanceof Error ? err.message : String(err), infrastructure: err instanceof ExecutorUnavailableError }))
    // the step ends when its output has been written, not just when the command exited
    .finally(async () => {
      await followed;
      if (timer) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
    });
  return { exec, stop, done };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
