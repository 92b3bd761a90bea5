// The Executor for CircleCI's `docker` executor: a primary container where
// steps run, and service containers sharing its network namespace (a
// service's ports are the primary's localhost, and its name resolves there).

import { randomBytes } from 'node:crypto';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import {
  ExecutorError,
  ExecutorUnavailableError,
  type ContainerSpec,
  type ExecRequest,
  type Executor,
  type PullPolicy,
  type StartupOutcome,
  type StartupScript,
  type ResourceLimits,
  type RunningExec,
} from '../executor.js';
import { containerHostnames, primaryCreateOptions, primaryIdles, serviceCreateOptions } from './containers.js';
import { connectDocker, engineMessage, engineStatus, isUnreachable, unreachableMessage } from './engine.js';
import { startExec } from './exec.js';
import { ensureImage } from './images.js';
import { ownershipLabels, RUN_LABEL } from './labels.js';
import { removeRun } from './leftovers.js';
import type { PullListener } from './pull-progress.js';
import { readStartupOutcome } from './startup-output.js';

export interface DockerExecutorOptions {
  /** Labels everything created (com.deckhand.job), for sweeping leftovers. */
  jobId: string;
  /** The primary first, then the services. */
  containers: ContainerSpec[];
  /** Applied to each container. */
  resources?: ResourceLimits;
  /** Default 'missing'. */
  pull?: PullPolicy;
  /** Default: the engine named by DOCKER_HOST & co. */
  docker?: Docker;
  /** Between SIGTERM and SIGKILL when an exec is aborted. Default 10 s. */
  killGraceMs?: number;
  /**
   * 'isolated' (default): a network of the job's own, apart from every other container.
   * 'bridge': Docker's default bridge, as `docker run` does — creating and removing a network
   * costs ~350 ms per job, which matters for a local run.
   */
  network?: 'isolated' | 'bridge';
  /**
   * Hears each image pull (started, engine progress, finished or failed); images
   * already present make no events. `pullProgressReporter({write, tty})` turns
   * these into what a person reads. Default: pulls are silent.
   */
  onPull?: PullListener;
  /** How long teardown waits for an engine that went away to come back. Default ENGINE_RETURN_MS. */
  engineReturnMs?: number;
}

/** Teardown's default wait for a vanished engine: long enough for a restart of dockerd, or
 *  `DECKHAND_ENGINE_RETURN_SECONDS`. */
export const ENGINE_RETURN_MS = Number(process.env.DECKHAND_ENGINE_RETURN_SECONDS ?? 20) * 1000;

export class DockerExecutor implements Executor {
  /** Distinguishes this instance's containers from other runs of the job. */
  readonly runId = randomBytes(6).toString('hex');
  private readonly docker: Docker;
  private primary: Docker.Container | undefined;
  private preparing: Promise<StartupOutcome | undefined> | undefined;
  private readonly closing = new AbortController();

  constructor(private readonly options: DockerExecutorOptions) {
    this.docker = options.docker ?? connectDocker();
  }

  prepare(signal?: AbortSignal, startup?: StartupScript): Promise<StartupOutcome | undefined> {
    if (this.preparing) return Promise.reject(new ExecutorError('prepare() was called twice on one executor; create a new executor per job'));
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    this.preparing = this.start(stop, startup).catch(async (error: unknown) => {
      // Leave nothing behind, whatever failed.
      await removeRun(this.docker, this.runId).catch(() => undefined);
      throw toExecutorError(error, 'cannot start the job containers');
    });
    return this.preparing;
  }

  exec(request: ExecRequest): RunningExec {
    if (!this.primary) {
      const exit = Promise.reject(new ExecutorError('exec() before prepare() finished; await prepare() first'));
      return startFailed(exit);
    }
    return startExec(this.primary, request, { killGraceMs: this.options.killGraceMs ?? 10_000 });
  }

  async copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void> {
    const primary = this.requirePrimary('copyIn');
    // Take hold of the stream before the first await: a child process's
    // stdout that nobody reads is drained and discarded when it exits.
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    pipeline(tar, body, () => undefined);
    const where = `cannot copy into ${destinationDir} of the primary container`;
    try {
      try {
        await statPath(primary, destinationDir);
      } catch (error) {
        if (engineStatus(error) !== 404) throw error;
        await this.makeDirectory(destinationDir);
      }
      await primary.putArchive(body, { path: destinationDir, ...(signal ? { abortSignal: signal } : {}) });
    } catch (error) {
      // Release the caller's stream (and whatever produces it).
      body.destroy();
      throw toExecutorError(error, where);
    }
  }

  async exists(path: string): Promise<boolean> {
    const primary = this.requirePrimary('exists');
    try {
      await statPath(primary, path);
      return true;
    } catch (error) {
      if (engineStatus(error) === 404) return false;
      throw toExecutorError(error, `cannot look up ${path} in the primary container`);
    }
  }

  async copyOut(sourcePath: string, signal?: AbortSignal): Promise<Readable> {
    const primary = this.requirePrimary('copyOut');
    try {
      return (await primary.getArchive({ path: sourcePath, ...(signal ? { abortSignal: signal } : {}) })) as Readable;
    } catch (error) {
      if (engineStatus(error) === 404) throw new ExecutorError(`cannot copy ${sourcePath} out of the primary container: no such file or directory`);
      throw toExecutorError(error, `cannot copy ${sourcePath} out of the primary container`);
    }
  }

  async teardown(): Promise<void> {
    // A prepare() still creating containers stops at its next step; then
    // everything carrying this run's label goes.
    this.closing.abort();
    await this.preparing?.catch(() => undefined);
    this.primary = undefined;
    // An engine that went away (restarted, say) may come back: wait for it a while, since
    // only the engine can remove what the job made.
    const deadline = Date.now() + (this.options.engineReturnMs ?? ENGINE_RETURN_MS);
    for (;;) {
      try {
        await removeRun(this.docker, this.runId);
        return;
      } catch (error) {
        if (isUnreachable(error) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          continue;
        }
        const failure = toExecutorError(error, `cannot remove the containers of job ${this.options.jobId}`);
        if (!(failure instanceof ExecutorUnavailableError)) throw failure;
        throw new ExecutorUnavailableError(
          `${failure.message}; once it is back, remove what the job left with: docker rm -f -v $(docker ps -aq --filter label=${RUN_LABEL}=${this.runId}); docker network prune --filter label=${RUN_LABEL}=${this.runId}`,
        );
      }
    }
  }

  private async start(signal: AbortSignal, startup: StartupScript | undefined): Promise<StartupOutcome | undefined> {
    const { containers, jobId } = this.options;
    const [primarySpec, ...serviceSpecs] = containers;
    if (!primarySpec) throw new ExecutorError(`job ${jobId} names no container; a docker job needs at least one image`);
    const policy = this.options.pull ?? 'missing';
    const images = await Promise.all(containers.map((spec) => ensureImage(this.docker, spec.image, policy, spec.auth, signal, this.options.onPull)));
    signal.throwIfAborted();

    const labels = ownershipLabels(jobId, this.runId);
    const prefix = `deckhand-${jobId.replace(/[^a-zA-Z0-9_.-]/g, '-')}-${this.runId}`;
    // A network of its own keeps this job's containers apart from others'.
    const network = this.options.network === 'bridge' ? { id: 'bridge' } : await this.docker.createNetwork({ Name: prefix, Labels: labels, CheckDuplicate: true });
    signal.throwIfAborted();

    const placement = (containerName: string) => ({ containerName, labels, ...(this.options.resources ? { resources: this.options.resources } : {}) });
    const runsStartup = startup !== undefined && primaryIdles(primarySpec, images[0]);
    const primary = await this.docker.createContainer(
      primaryCreateOptions(primarySpec, images[0], placement(`${prefix}-primary`), network.id, containerHostnames(containers), runsStartup ? startup : undefined),
    );
    signal.throwIfAborted();
    // attached before it starts, so that none of the startup script's output is missed
    const outcome = runsStartup ? readStartupOutcome((await primary.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable, signal) : undefined;
    outcome?.catch(() => undefined);
    await startContainer(primary, primarySpec);

    await Promise.all(
      serviceSpecs.map(async (spec, index) => {
        signal.throwIfAborted();
        const service = await this.docker.createContainer(serviceCreateOptions(spec, placement(`${prefix}-service${index + 1}`), primary.id));
        signal.throwIfAborted();
        await startContainer(service, spec);
      }),
    );
    signal.throwIfAborted();
    const startupOutcome = await outcome;
    await mustBeRunning(primary, primarySpec);
    this.primary = primary;
    return startupOutcome;
  }

  private requirePrimary(operation: string): Docker.Container {
    if (!this.primary) throw new ExecutorError(`${operation}() before prepare() finished; await prepare() first`);
    return this.primary;
  }

  private async makeDirectory(directory: string): Promise<void> {
    const run = this.exec({ command: ['mkdir', '-p', '--', directory] });
    const errors: Buffer[] = [];
    run.stdout.resume();
    run.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
    const { exitCode } = await run.exit;
    if (exitCode !== 0) {
      const reason = Buffer.concat(errors).toString('utf8').replace(/\s+/g, ' ').trim();
      throw new ExecutorError(`cannot create ${directory} in the primary container: ${reason || `mkdir exited with ${exitCode}`}`);
    }
  }
}

async function startContainer(container: Docker.Container, spec: ContainerSpec): Promise<void> {
  try {
    await container.start();
  } catch (error) {
    throw toExecutorError(error, `cannot start a container of image "${spec.image}"`);
  }
}

/** A preserved or given entrypoint that exits leaves nowhere to run steps. */
async function mustBeRunning(primary: Docker.Container, spec: ContainerSpec): Promise<void> {
  if (spec.command || spec.entrypoint) {
    // the job's own command may need a moment to fail: give it a short window to show it
    // (the keep-alive Deckhand runs otherwise does not exit, so other jobs do not wait)
    await Promise.race([primary.wait({ condition: 'not-running' }).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 300))]);
  }
  const state = (await primary.inspect()).State;
  if (!state.Running) {
    throw new ExecutorError(
      `the primary container (image "${spec.image}") exited with code ${state.ExitCode} right after it started; its entrypoint/command must keep running`,
    );
  }
}

function toExecutorError(error: unknown, what: string): ExecutorError {
  if (error instanceof ExecutorError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new ExecutorError(`${what}: cancelled`);
  if (isUnreachable(error)) return new ExecutorUnavailableError(unreachableMessage(error));
  return new ExecutorError(`${what}: ${engineMessage(error)}`);
}

function startFailed(exit: Promise<never>): RunningExec {
  exit.catch(() => undefined);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.end();
  stderr.end();
  return { stdout, stderr, exit, signal: async () => undefined };
}

/** A HEAD on the archive endpoint (stat of a path). dockerode hands back the response as a
 *  stream; left unread it keeps the socket, and so the process, alive. */
async function statPath(container: Docker.Container, path: string): Promise<void> {
  const response = (await container.infoArchive({ path })) as unknown as { destroy?: () => void; resume?: () => void };
  if (typeof response?.destroy === 'function') response.destroy();
  else response?.resume?.();
}
