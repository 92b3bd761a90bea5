// The Executor for CircleCI's `docker` executor: a primary container where
// steps run, and service containers sharing its network namespace (a
// service's ports are the primary's localhost, and its name resolves there).

import { randomBytes } from 'node:crypto';
import { PassThrough, pipeline, type Duplex, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { ContainerCreateOptions, ImageInspectInfo } from 'dockerode';
import { ExecutorError, ExecutorUnavailableError, failedExec, failedInteractive, type ExecRequest, type Executor, type InteractiveExec, type InteractiveRequest, type StartupOutcome, type StartupScript, type RunningExec } from '../executor.js';
import type { ContainerSpec, PullPolicy, ResourceLimits } from './container-spec.js';
import { containerHostnames, primaryCreateOptions, primaryIdles, serviceCreateOptions } from './containers.js';
import { connectDocker, engineMessage, engineStatus, isUnreachable, unreachableMessage } from './engine.js';
import { ContainerStoppedError, startExec } from './exec.js';
import { ensureImage, inspectImage } from './images.js';
import { startInteractive } from './interactive.js';
import { connectTcp, isJobHost, primaryAddress } from './job-ports.js';
import { ownershipLabels, RUN_LABEL } from './labels.js';
import { removeCreated, removeRun, type CreatedContainer } from './leftovers.js';
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
  /** How long teardown waits for an engine that went away to come back. Default 20 s: long enough for a restart of dockerd. */
  engineReturnMs?: number;
}

/** How long teardown watches an engine that may be shutting down before it removes anyway. */
const ENGINE_GOING_DOWN_MS = 5_000;

export class DockerExecutor implements Executor {
  /** Distinguishes this instance's containers from other runs of the job. */
  readonly runId = randomBytes(6).toString('hex');
  private readonly docker: Docker;
  private primary: Docker.Container | undefined;
  private preparing: Promise<StartupOutcome | undefined> | undefined;
  private readonly closing = new AbortController();
  /** What the engine said it created (ids from answered create calls), for teardown. */
  private readonly created: CreatedContainer[] = [];
  private madeNetwork = false;
  /** the network of the job's own, once made (isolated mode) */
  private network: string | undefined;
  /** A create call went unanswered (engine gone, socket cut): it may have created something that
   *  only a search by this run's label finds. */
  private uncertain = false;
  /** the primary's address on its network, looked up at the first connect() */
  private address: Promise<string> | undefined;
  /** A step's container stopped under it, perhaps because the engine is shutting down. */
  private containerStopped = false;

  constructor(private readonly options: DockerExecutorOptions) {
    this.docker = options.docker ?? connectDocker();
  }

  prepare(signal?: AbortSignal, startup?: StartupScript): Promise<StartupOutcome | undefined> {
    if (this.preparing) return Promise.reject(new ExecutorError('prepare() was called twice on one executor; create a new executor per job'));
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    this.preparing = this.start(stop, startup).catch(async (error: unknown) => {
      // Leave nothing behind, whatever failed.
      await this.removeEverything().catch(() => undefined);
      throw toExecutorError(error, 'cannot start the job containers');
    });
    return this.preparing;
  }

  exec(request: ExecRequest): RunningExec {
    if (!this.primary) {
      return failedExec(new ExecutorError('exec() before prepare() finished; await prepare() first'));
    }
    const running = startExec(this.primary, request, { killGraceMs: this.options.killGraceMs ?? 10_000 });
    running.exit.catch((error: unknown) => {
      if (error instanceof ContainerStoppedError) this.containerStopped = true;
    });
    return running;
  }

  interact(request: InteractiveRequest): InteractiveExec {
    if (!this.primary) return failedInteractive(new ExecutorError('interact() before prepare() finished; await prepare() first'));
    return startInteractive(this.primary, request, { killGraceMs: this.options.killGraceMs ?? 10_000 });
  }

  async connect(host: string, port: number, signal?: AbortSignal): Promise<Duplex> {
    const primary = this.requirePrimary('connect');
    this.address ??= primaryAddress(primary);
    this.address.catch(() => (this.address = undefined));
    let address: string;
    try {
      address = await this.address;
    } catch (error) {
      throw toExecutorError(error, `cannot connect to ${host}:${port} in the job`);
    }
    const services = containerHostnames(this.options.containers);
    if (!isJobHost(host, services, address)) {
      throw new ExecutorError(
        `cannot connect to ${host}:${port}: only the job's own ports can be reached (localhost${services.length > 0 ? `, ${services.join(', ')}` : ''})`,
      );
    }
    return connectTcp(address, port, `${host}:${port} in the job`, signal);
  }

  async copyIn(destinationDir: string, tar: Readable, signal?: AbortSignal): Promise<void> {
    const primary = this.requirePrimary('copyIn');
    // Take hold of the stream before the first await: a child process's
    // stdout that nobody reads is drained and discarded when it exits.
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    // A source that fails mid-stream must end the upload: the engine would
    // otherwise wait for the rest of the archive forever.
    const sourceFailed = new AbortController();
    pipeline(tar, body, (error) => {
      if (error) sourceFailed.abort(error);
    });
    const abortSignal = signal ? AbortSignal.any([signal, sourceFailed.signal]) : sourceFailed.signal;
    const where = `cannot copy into ${destinationDir} of the primary container`;
    try {
      try {
        await statPath(primary, destinationDir);
      } catch (error) {
        if (engineStatus(error) !== 404) throw error;
        await this.makeDirectory(destinationDir);
      }
      sourceFailed.signal.throwIfAborted();
      await primary.putArchive(body, { path: destinationDir, abortSignal });
    } catch (error) {
      // Release the caller's stream (and whatever produces it).
      body.destroy();
      if (sourceFailed.signal.aborted && !signal?.aborted) {
        const reason: unknown = sourceFailed.signal.reason;
        throw new ExecutorError(`${where}: the archive could not be read: ${reason instanceof Error ? reason.message : String(reason)}`);
      }
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

  /** The job's own network (isolated mode), which a remote Docker engine's VM joins; none on the default bridge. */
  jobNetwork(): string | undefined {
    return this.network;
  }

  async teardown(): Promise<void> {
    // A prepare() still creating containers stops at its next step; then
    // everything carrying this run's label goes.
    this.closing.abort();
    await this.preparing?.catch(() => undefined);
    this.primary = undefined;
    this.address = undefined;
    // An engine that went away (restarted, say) may come back: wait for it a while, since
    // only the engine can remove what the job made.
    const deadline = Date.now() + (this.options.engineReturnMs ?? 20_000);
    if (this.containerStopped) await this.whileEngineGoesDown();
    for (;;) {
      try {
        await this.removeEverything();
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

  /**
   * dockerd shutting down kills containers first and answers for a few seconds more: removals
   * it acknowledges then are not done. After a container stopped under a step, wait (boundedly)
   * to see whether the engine goes away; if it does, teardown waits for it to come back.
   */
  private async whileEngineGoesDown(): Promise<void> {
    const until = Date.now() + ENGINE_GOING_DOWN_MS;
    while (Date.now() < until) {
      try {
        await this.docker.ping();
      } catch (error) {
        if (isUnreachable(error)) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private async start(signal: AbortSignal, startup: StartupScript | undefined): Promise<StartupOutcome | undefined> {
    const { containers, jobId } = this.options;
    const [primarySpec, ...serviceSpecs] = containers;
    if (!primarySpec) throw new ExecutorError(`job ${jobId} names no container; a docker job needs at least one image`);
    const policy = this.options.pull ?? 'missing';
    // services' images are made sure of while the primary is created
    const serviceImages = Promise.all(serviceSpecs.map((spec) => ensureImage(this.docker, spec.image, policy, spec.auth, signal, this.options.onPull)));
    serviceImages.catch(() => undefined);

    const labels = ownershipLabels(jobId, this.runId);
    const prefix = `deckhand-${jobId.replace(/[^a-zA-Z0-9_.-]/g, '-')}-${this.runId}`;
    // A network of its own keeps this job's containers apart from others'.
    const network = this.options.network === 'bridge' ? { id: 'bridge' } : await this.createNetwork({ Name: prefix, Labels: labels, CheckDuplicate: true });
    if (this.options.network !== 'bridge') this.network = prefix;
    signal.throwIfAborted();

    const placement = (containerName: string) => ({ containerName, labels, ...(this.options.resources ? { resources: this.options.resources } : {}) });
    const hostnames = containerHostnames(containers);
    const { primary, runsStartup } = await this.createPrimary(primarySpec, policy, signal, (image) => {
      const runsStartup = startup !== undefined && primaryIdles(primarySpec, image);
      return { options: primaryCreateOptions(primarySpec, image, placement(`${prefix}-primary`), network.id, hostnames, runsStartup ? startup : undefined), runsStartup };
    });
    signal.throwIfAborted();
    // attached before it starts, so that none of the startup script's output is missed
    const outcome = runsStartup ? readStartupOutcome((await primary.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable, signal) : undefined;
    outcome?.catch(() => undefined);
    await startContainer(primary, primarySpec);

    await serviceImages;
    // settled one and all before a failure is reported, so that teardown knows every container made
    const services = await Promise.allSettled(
      serviceSpecs.map(async (spec, index) => {
        signal.throwIfAborted();
        const service = await this.createContainer(serviceCreateOptions(spec, placement(`${prefix}-service${index + 1}`), primary.id), 'service');
        signal.throwIfAborted();
        await startContainer(service, spec);
      }),
    );
    const failed = services.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    signal.throwIfAborted();
    const startupOutcome = await outcome;
    // the startup script's end line came from the idle loop, which does not exit by itself
    if (startupOutcome === undefined) await mustBeRunning(primary, primarySpec);
    this.primary = primary;
    return startupOutcome;
  }

  /**
   * The primary, created while its image is inspected rather than after: the image's labels
   * decide its command (com.circleci.preserve-entrypoint), and they seldom do, so it is created
   * as for an image without them and created again when they say otherwise. A missing image
   * fails the create (404); then the image is pulled as the policy allows, and the create retried.
   */
  private async createPrimary(
    spec: ContainerSpec,
    policy: PullPolicy,
    signal: AbortSignal,
    optionsFor: (image: ImageInspectInfo) => { options: ContainerCreateOptions; runsStartup: boolean },
  ): Promise<{ primary: Docker.Container; runsStartup: boolean }> {
    const ensure = (): Promise<ImageInspectInfo> => ensureImage(this.docker, spec.image, policy, spec.auth, signal, this.options.onPull);
    if (policy === 'always') {
      const chosen = optionsFor(await ensure());
      signal.throwIfAborted();
      return { primary: await this.createContainer(chosen.options, 'primary'), runsStartup: chosen.runsStartup };
    }
    const inspection = inspectImage(this.docker, spec.image);
    inspection.catch(() => undefined);
    const unlabelled = { Config: { Labels: {} } } as unknown as ImageInspectInfo;
    const guess = optionsFor(unlabelled);
    let primary: Docker.Container | undefined;
    try {
      primary = await this.createContainer(guess.options, 'primary');
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
    }
    const image = (await inspection) ?? (await ensure());
    signal.throwIfAborted();
    if (primary && primaryIdles(spec, image) === primaryIdles(spec, unlabelled)) return { primary, runsStartup: guess.runsStartup };
    const chosen = optionsFor(image);
    if (primary) await this.removeContainer(primary);
    return { primary: await this.createContainer(chosen.options, 'primary'), runsStartup: chosen.runsStartup };
  }

  /** Creates a container, remembering it for teardown. Options go in the request body only:
   *  docker-modem would otherwise also put them in the URL, the startup script included. */
  private async createContainer(options: ContainerCreateOptions, role: CreatedContainer['role']): Promise<Docker.Container> {
    const { name, ...body } = options;
    try {
      const container = await this.docker.createContainer({ _query: { name }, _body: body } as ContainerCreateOptions);
      this.created.push({ id: container.id, role });
      return container;
    } catch (error) {
      // no answer from the engine: it may have created the container all the same
      if (engineStatus(error) === undefined) this.uncertain = true;
      throw error;
    }
  }

  private async removeContainer(container: Docker.Container): Promise<void> {
    await container.remove({ force: true, v: true });
    const at = this.created.findIndex((c) => c.id === container.id);
    if (at >= 0) this.created.splice(at, 1);
  }

  private async createNetwork(options: Docker.NetworkCreateOptions): Promise<Docker.Network> {
    // marked before the call: the network is found by its label, whatever the answer
    this.madeNetwork = true;
    return this.docker.createNetwork(options);
  }

  /** Everything this instance created: by the ids the engine gave, or by label when a create
   *  went unanswered. Forgotten once removed, so a second call makes no requests. */
  private async removeEverything(): Promise<void> {
    if (this.uncertain) await removeRun(this.docker, this.runId);
    else await removeCreated(this.docker, this.created, this.runId, this.madeNetwork);
    this.created.length = 0;
    this.madeNetwork = false;
    this.uncertain = false;
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

/** A HEAD on the archive endpoint (stat of a path). dockerode hands back the response as a
 *  stream; left unread it keeps the socket, and so the process, alive. */
async function statPath(container: Docker.Container, path: string): Promise<void> {
  const response = (await container.infoArchive({ path })) as unknown as { destroy?: () => void; resume?: () => void };
  if (typeof response?.destroy === 'function') response.destroy();
  else response?.resume?.();
}
