/**
 * Which Executor runs which JobSpec executor kind: the one place a new executor is registered.
 * Each entry is loaded only when a job of its kind runs (the Docker client, later the SSH one,
 * cost start-up time every other command would pay).
 */
import type { RuntimeSettings } from '../assignment/assignment.js';
import { UsageError } from '../errors.js';
import type { ExecutorSpec, JobSpec } from '../jobspec/jobspec.js';
import type { Executor } from './executor.js';
import type { VmProvider } from '../vm/provider.js';

/** What an executor may use besides the JobSpec, all handed down by the core. */
export interface ExecutorContext {
  /** labels everything the executor creates, so that forced cleanup and sweeps find it */
  jobId: string;
  /** this job run's id: with jobId, the owner recorded on a VM */
  runId: string;
  runtime: RuntimeSettings;
  /** project and context variables, which image credentials may name (`$DOCKERHUB_PASSWORD`) */
  variables: Record<string, string>;
  /** the agent's environment: operator settings (the engine's address, AWS region) */
  env: Readonly<Record<string, string | undefined>>;
  /** where image pull progress goes: plain lines into the job's output, or a live line on a terminal */
  pullProgress: { write: (text: string) => void; tty: boolean; columns?: number };
  /** between SIGTERM and SIGKILL when a step is canceled (default: the executor's own, 10 s) */
  killGraceMs?: number;
  /** one line into the job's spin-up output (what the executor got: a VM and how to reach it) */
  say: (line: string) => void;
  /** where VMs come from (machine jobs), opened on first use */
  vms?: () => Promise<VmProvider>;
}

export interface ExecutorChoice {
  executor: Executor;
  /** lines to show the user about adjustments (e.g. capped resources) */
  notes: string[];
}

export type ExecutorFactory = (spec: JobSpec, ctx: ExecutorContext) => Promise<ExecutorChoice>;

type RunnableKind = Exclude<ExecutorSpec['kind'], 'none'>;

const factories: Record<RunnableKind, (() => Promise<ExecutorFactory>) | undefined> = {
  docker: async () => (await import('./docker/factory.js')).dockerExecutorFor,
  machine: async () => (await import('./machine/factory.js')).machineExecutorFor,
  macos: undefined,
};

/** Throws an input error (exit 2) for a kind no executor runs yet; nothing has started then. */
export async function createExecutor(spec: JobSpec, ctx: ExecutorContext): Promise<ExecutorChoice> {
  const kind = spec.executor.kind;
  const load = kind === 'none' ? undefined : factories[kind];
  if (!load) throw new UsageError(`job "${spec.job.name}" uses the ${kind} executor, which is not supported yet; Deckhand runs docker and machine jobs`);
  return (await load())(spec, ctx);
}

/** The kinds an executor exists for, for front ends that check a whole workflow before it starts. */
export function isSupportedExecutor(kind: ExecutorSpec['kind']): boolean {
  return kind === 'none' || factories[kind] !== undefined;
}
