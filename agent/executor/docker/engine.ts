// Connecting to the Docker engine and wording its failures for users.

import Docker from 'dockerode';

/**
 * A client for the engine the environment names, as the docker CLI would:
 * DOCKER_HOST (unix:// or tcp://), DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
 * (ca.pem, cert.pem, key.pem); the local socket when DOCKER_HOST is unset.
 * docker-modem reads exactly these variables when given no options.
 */
export function connectDocker(): Docker {
  return new Docker();
}

/** Where the engine is expected, for error messages. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

interface EngineFailure {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  message?: string;
}

/** The engine's own explanation of a failed API call, on one line. */
export function engineMessage(error: unknown): string {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as EngineFailure;
  const text = failure.json?.message ?? failure.message ?? String(error);
  // docker-modem prefixes "(HTTP code 500) server error - "; the rest is the engine's.
  return text.replace(/^\(HTTP code \d+\) [^-]*- /, '').replace(/\s+/g, ' ').trim();
}

/** HTTP status of a failed engine call, when it got that far. */
export function engineStatus(error: unknown): number | undefined {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as EngineFailure;
  return failure.statusCode;
}

/** True when the engine could not be reached at all (socket, TCP, TLS). */
export function isUnreachable(error: unknown): boolean {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as EngineFailure;
  return failure.statusCode === undefined && typeof failure.code === 'string';
}

export function unreachableMessage(error: unknown): string {
  return `cannot reach the Docker engine at ${engineAddress()}: ${engineMessage(error)}; start it (scripts/ensure-docker.sh) or set DOCKER_HOST`;
}
