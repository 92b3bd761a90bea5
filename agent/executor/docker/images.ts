// Making sure an image is present before a container is created from it,
// according to the pull policy.

import type Docker from 'dockerode';
import type { ImageInspectInfo } from 'dockerode';
import { ExecutorError, type PullPolicy, type RegistryAuth } from '../executor.js';
import { engineMessage, engineStatus, isUnreachable, unreachableMessage } from './engine.js';

/** Returns the image's inspection (its labels decide the primary's entrypoint). */
export async function ensureImage(
  docker: Docker,
  image: string,
  policy: PullPolicy,
  auth: RegistryAuth | undefined,
  signal?: AbortSignal,
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
  await pullImage(docker, image, auth, signal);
  const pulled = await inspectImage(docker, image);
  if (!pulled) throw new ExecutorError(`image "${image}" was pulled but the Docker engine does not list it; check the image name`);
  return pulled;
}

async function inspectImage(docker: Docker, image: string): Promise<ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(image).inspect();
  } catch (error) {
    if (engineStatus(error) === 404) return undefined;
    if (isUnreachable(error)) throw new ExecutorError(unreachableMessage(error));
    throw new ExecutorError(`cannot inspect image "${image}": ${engineMessage(error)}`);
  }
}

interface PullEvent {
  error?: string;
  errorDetail?: { message?: string };
}

async function pullImage(docker: Docker, image: string, auth: RegistryAuth | undefined, signal?: AbortSignal): Promise<void> {
  const fail = (reason: string): ExecutorError =>
    new ExecutorError(`cannot pull image "${image}": ${reason}; check the name, the registry's reachability and credentials, or build the image locally`);
  let progress: NodeJS.ReadableStream;
  try {
    const options = { ...(auth ? { authconfig: { username: auth.username, password: auth.password } } : {}), ...(signal ? { abortSignal: signal } : {}) };
    progress = (await docker.pull(image, options)) as NodeJS.ReadableStream;
  } catch (error) {
    if (isUnreachable(error)) throw new ExecutorError(unreachableMessage(error));
    throw fail(engineMessage(error));
  }
  // The engine reports a failure part-way through as an `error` event in
  // the JSON progress stream, after a 200 status.
  let failure: string | undefined;
  let pending = '';
  const scan = (line: string): void => {
    if (!line.trim()) return;
    try {
      const event = JSON.parse(line) as PullEvent;
      if (event.error || event.errorDetail?.message) failure ??= event.errorDetail?.message ?? event.error;
    } catch {
      // A progress line that is not JSON carries nothing we act on.
    }
  };
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
