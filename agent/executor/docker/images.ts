// Making sure an image is present before a container is created from it,
// according to the pull policy.

import type Docker from 'dockerode';
import type { ImageInspectInfo } from 'dockerode';
import { ExecutorError, ExecutorUnavailableError } from '../executor.js';
import type { PullPolicy, RegistryAuth, RegistryCredentials } from './container-spec.js';
import { engineMessage, engineStatus, isUnreachable, unreachableMessage } from './engine.js';
import type { EngineProgressMessage, PullListener } from './pull-progress.js';

/**
 * Returns the image's inspection (its labels decide the primary's entrypoint).
 * `onPull` hears about a pull, when one happens (see pull-progress.ts).
 */
export async function ensureImage(
  docker: Docker,
  image: string,
  policy: PullPolicy,
  credentials: RegistryCredentials | undefined,
  signal?: AbortSignal,
  onPull?: PullListener,
): Promise<ImageInspectInfo> {
  if (policy !== 'always') {
    const present = await inspectImage(docker, image);
    if (present) return present;
    if (policy === 'never') {
      throw new ExecutorError(
        `image "${image}" is not present on the Docker engine and the pull policy is "never"; build or load it first (docker build / docker load), or allow pulling`,
      );
    }
  }
  const startedAt = Date.now();
  onPull?.({ kind: 'started', image });
  try {
    const auth = typeof credentials === 'function' ? await credentials() : credentials;
    await pullImage(docker, image, auth, signal, onPull);
  } catch (error) {
    onPull?.({ kind: 'failed', image, reason: error instanceof Error ? error.message : String(error) });
    throw error;
  }
  onPull?.({ kind: 'finished', image, elapsedMs: Date.now() - startedAt });
  const pulled = await inspectImage(docker, image);
  if (!pulled) throw new ExecutorError(`image "${image}" was pulled but the Docker engine does not list it; check the image name`);
  return pulled;
}

/** The image as the engine has it, or undefined when it has no such image. */
export async function inspectImage(docker: Docker, image: string): Promise<ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(image).inspect();
  } catch (error) {
    if (engineStatus(error) === 404) return undefined;
    if (isUnreachable(error)) throw new ExecutorUnavailableError(unreachableMessage(error));
    throw new ExecutorError(`cannot inspect image "${image}": ${engineMessage(error)}`);
  }
}

async function pullImage(
  docker: Docker,
  image: string,
  auth: RegistryAuth | undefined,
  signal: AbortSignal | undefined,
  onPull: PullListener | undefined,
): Promise<void> {
  const fail = (reason: string): ExecutorError => new ExecutorError(`cannot pull image "${image}": ${reason}; ${pullHint(reason, auth)}`);
  let progress: NodeJS.ReadableStream;
  try {
    const options = { ...(auth ? { authconfig: { username: auth.username, password: auth.password } } : {}), ...(signal ? { abortSignal: signal } : {}) };
    progress = (await docker.pull(image, options)) as NodeJS.ReadableStream;
  } catch (error) {
    if (isUnreachable(error)) throw new ExecutorUnavailableError(unreachableMessage(error));
    throw fail(engineMessage(error));
  }
  // The engine reports a failure part-way through as an `error` event in
  // the JSON progress stream, after a 200 status.
  let failure: string | undefined;
  let pending = '';
  const scan = (line: string): void => {
    if (!line.trim()) return;
    try {
      const event = JSON.parse(line) as EngineProgressMessage;
      if (event.error || event.errorDetail?.message) failure ??= event.errorDetail?.message ?? event.error;
      else onPull?.({ kind: 'progress', image, message: event });
    } catch {
      // A progress line that is not JSON carries nothing we act on.
    }
  };
  // Read line by line rather than with docker-modem's followProgress, whose
  // JSON.parse would throw out of a stream callback on a torn line.
  try {
    for await (const chunk of progress as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(scan);
    }
    scan(pending);
  } catch (error) {
    throw fail(engineMessage(error));
  }
  if (failure) throw fail(failure.replace(/\s+/g, ' ').trim());
}

// The engine's wording when a registry refuses anonymous or wrong credentials
// (Docker and registry versions differ; these cover the ones seen).
const REFUSED = /unauthorized|authentication required|no basic auth credentials/i;

/** How to fix a failed pull, judged from the engine's reason. */
function pullHint(reason: string, auth: RegistryAuth | undefined): string {
  if (REFUSED.test(reason)) {
    return auth
      ? `the registry refused the credentials of user "${auth.username}"; check the image's auth username and password (or the environment variables they come from)`
      : "the registry wants credentials; give the image an auth: { username, password } in the config";
  }
  return "check the name, the registry's reachability and credentials, or build the image locally";
}
