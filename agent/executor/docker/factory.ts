/**
 * The Docker executor for a JobSpec: its containers with their pull credentials, resource limits
 * from the resource class, capped at what this machine has (Docker refuses more CPUs than exist).
 */
import { availableParallelism, totalmem } from 'node:os';
import type { ContainerSpec } from './container-spec.js';
import type { ExecutorChoice, ExecutorContext } from '../registry.js';
import type { JobSpec } from '../../jobspec/jobspec.js';
import { DockerExecutor } from './docker-executor.js';
import { pullProgressReporter } from './pull-progress.js';
import { registryCredentials } from './registry-credentials.js';

/** Teardown's default wait for a vanished engine: long enough for a restart of dockerd. */
const ENGINE_RETURN_SECONDS = 20;

export async function dockerExecutorFor(spec: JobSpec, ctx: ExecutorContext): Promise<ExecutorChoice> {
  if (spec.executor.kind !== 'docker') throw new Error(`dockerExecutorFor was given a ${spec.executor.kind} job`);
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
    const auth = registryCredentials(c, ctx.variables, ctx.env);
    if (auth !== undefined) out.auth = auth;
    return out;
  });
  const resources: { cpus?: number; memoryBytes?: number } = {};
  if (limCpus !== undefined) resources.cpus = limCpus;
  if (limMb !== undefined) resources.memoryBytes = limMb * 1048576;
  const engineReturn = Number(ctx.env.DECKHAND_ENGINE_RETURN_SECONDS ?? ENGINE_RETURN_SECONDS);
  const executor = new DockerExecutor({
    jobId: ctx.jobId,
    containers,
    resources,
    pull: ctx.runtime.docker.pull,
    // a remote engine's VM joins the job's network: the job needs one of its own, not the shared bridge
    network: spec.steps.some((s) => s.type === 'setup_remote_docker') ? 'isolated' : ctx.runtime.docker.network,
    onPull: pullProgressReporter(ctx.pullProgress),
    engineReturnMs: (Number.isFinite(engineReturn) && engineReturn >= 0 ? engineReturn : ENGINE_RETURN_SECONDS) * 1000,
    ...(ctx.killGraceMs !== undefined ? { killGraceMs: ctx.killGraceMs } : {}),
  });
  return { executor, notes };
}
