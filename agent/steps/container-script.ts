// Small shell scripts that steps other than `run` need inside the primary
// container (inspecting a directory, finding the user, cloning over SSH).
// They are POSIX sh so that they work in images without bash (busybox).

import { errorKind } from '../errors.js';
import type { StepContext, StepResult } from './step.js';

export interface ScriptOutcome {
  exitCode: number;
  aborted: boolean;
  stdout: string;
  stderr: string;
}

/** Runs `/bin/sh -c script sh ...args` and keeps its output (for short, quiet scripts). */
export async function captureScript(
  ctx: Pick<StepContext, 'executor' | 'signal'>,
  script: string,
  args: string[] = [],
  env?: Record<string, string>,
): Promise<ScriptOutcome> {
  const run = ctx.executor.exec({ command: ['/bin/sh', '-c', script, 'sh', ...args], signal: ctx.signal, ...(env ? { env } : {}) });
  const [stdout, stderr] = await Promise.all([readText(run.stdout), readText(run.stderr)]);
  const result = await run.exit;
  return { ...result, stdout, stderr };
}

/** Runs `/bin/sh -c script sh ...args`, streaming its bytes to the step's output as they come. */
export async function streamScript(
  ctx: Pick<StepContext, 'executor' | 'signal' | 'output'>,
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ exitCode: number; aborted: boolean }> {
  const run = ctx.executor.exec({ command: ['/bin/sh', '-c', script, 'sh', ...args], env, signal: ctx.signal });
  const followed = Promise.all([ctx.output.follow('stdout', run.stdout), ctx.output.follow('stderr', run.stderr)]);
  try {
    return await run.exit;
  } finally {
    await followed;
  }
}

async function readText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Numeric owner for files the agent puts into the container. */
export interface ContainerUser {
  uid: number;
  gid: number;
}

/**
 * The user that execs run as by default (the job's `user:` or the image's),
 * so that copied files end up theirs: copyIn takes ownership from the tar
 * headers, and a root-owned checkout would be read-only for a non-root job.
 */
export async function containerUser(ctx: Pick<StepContext, 'executor' | 'signal'>): Promise<ContainerUser> {
  const outcome = await captureScript(ctx, 'id -u && id -g');
  const [uid, gid] = outcome.stdout.trim().split(/\s+/).map((word) => Number.parseInt(word, 10));
  if (outcome.exitCode !== 0 || uid === undefined || gid === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new StepFailure(
      `cannot tell which user the primary container runs as (\`id -u\` ${outcome.exitCode === 0 ? `printed "${outcome.stdout.trim()}"` : `exited with ${outcome.exitCode}`}); the image needs the \`id\` command`,
    );
  }
  return { uid, gid };
}

/** A step ends with this one-line message; thrown by helpers, turned into a StepResult by the step. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

/** Turns what a step threw into how it ended, telling the user why on the agent stream. */
export function failureResult(ctx: Pick<StepContext, 'output' | 'signal'>, error: unknown): StepResult {
  if (ctx.signal.aborted) return { status: 'canceled', message: 'cancelled' };
  const message = error instanceof Error ? error.message : String(error);
  ctx.output.write('agent', `${message}\n`);
  return { status: 'failed', message };
}

/**
 * The same, for a step whose environment may be what failed (no VM for remote Docker, a store that
 * lost what upstream jobs persisted): an InfrastructureError makes the job's result an
 * infrastructure failure (exit 2), not a failed step of its own.
 */
export function failureOrInfrastructure(ctx: Pick<StepContext, 'output' | 'signal'>, error: unknown): StepResult {
  const result = failureResult(ctx, error);
  return errorKind(error) === 'infrastructure' && result.status === 'failed' ? { ...result, infrastructure: true } : result;
}
