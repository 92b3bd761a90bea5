/**
 * Chooses and builds the Executor a JobSpec asks for. Resource limits follow the resource class,
 * capped at what this machine has (Docker refuses more CPUs than exist).
 */
import { availableParallelism, totalmem } from 'node:os';
import type { Executor, PullPolicy, ContainerSpec } from '../executor/executor.js';
import { ExecutorError } from '../executor/executor.js';
import type { JobSpec } from '../jobspec/jobspec.js';
import { registryCredentials } from './registry-credentials.js';

export interface ExecutorChoice {
  executor: Executor;
  /** lines to show the user about adjustments (e.g. capped resources) */
  notes: string[];
}

export interface ExecutorOptions {
  jobId: string;
  pull: PullPolicy;
  /** a Docker network of the job's own (slower to set up) instead of the default bridge */
  isolateNetwork?: boolean;
  /** where image pull progress goes: plain lines into the job's output, or a live line on a terminal */
  pullProgress: { write: (text: string) => void; tty: boolean; columns?: number };
  /** project and context variables, which `auth`/`aws_auth` values may name (`$DOCKERHUB_PASSWORD`) */
  variables?: Record<string, string>;
}

export async function executorFor(spec: JobSpec, opts: ExecutorOptions): Promise<ExecutorChoice> {
  if (spec.executor.kind !== 'docker') {
    throw new ExecutorError(`job "${spec.job.name}" uses the ${spec.executor.kind} executor; deckhand execute runs docker jobs so far (machine jobs over SSH come later)`);
  }
  const notes: string[] = [];
  const { cpus, memoryMb } = spec.resources;
  const hostCpus = availableParallelism();
  const hostMb = Math.floor(totalmem() / 1048576);
  const limCpus = cpus > 0 ? Math.min(cpus, hostCpus) : undefined;
  const limMb = memoryMb > 0 ? Math.min(memoryMb, hostMb) : undefined;
  if ((limCpus !== undefined && limCpus < cpus) || (limMb !== undefined && limMb < memoryMb)) {
    notes.push(`resource_class ${spec.resources.class} asks for ${cpus} CPUs and ${memoryMb} MB; this machine has ${hostCpus} CPUs and ${hostMb} MB, so the job gets ${limCpus ?? cpus} CPUs and ${limMb ?? memoryMb} MB`);
  }
  const containers: ContainerSpec[] = spec.executor.containers.map((c, i) => {
    // CircleCI gives a container's `environment` to its own process only, not to the steps:
    // a primary that runs Deckhand's keep-alive gets none (Docker would pass it to every exec)
    const ownProcess = i > 0 || c.entrypoint !== undefined || c.command !== undefined;
    const out: ContainerSpec = { image: c.image, environment: ownProcess ? c.environment : {} };
    if (c.name !== undefined) out.name = c.name;
    if (c.entrypoint !== undefined) out.entrypoint = c.entrypoint;
    if (c.command !== undefined) out.command = c.command;
    if (c.user !== undefined) out.user = c.user;
    const auth = registryCredentials(c, opts.variables ?? {});
    if (auth !== undefined) out.auth = auth;
    return out;
  });
  // the Docker client is loaded only when a job really runs, to keep other commands fast
  const { DockerExecutor } = await import('../executor/docker/docker-executor.js');
  const { pullProgressReporter } = await import('../executor/docker/pull-progress.js');
  const resources: { cpus?: number; memoryBytes?: number } = {};
  if (limCpus !== undefined) resources.cpus = limCpus;
  if (limMb !== undefined) resources.memoryBytes = limMb * 1048576;
  const executor = new DockerExecutor({ jobId: opts.jobId, containers, resources, pull: opts.pull, network: opts.isolateNetwork ? 'isolated' : 'bridge', onPull: pullProgressReporter(opts.pullProgress) });
  return { executor, notes };
}
