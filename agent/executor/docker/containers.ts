// How a ContainerSpec becomes Docker create options, following CircleCI's
// rules for the primary and its services. Pure: no engine calls here.

import type { ContainerCreateOptions, ImageInspectInfo } from 'dockerode';
import type { StartupScript } from '../executor.js';
import type { ContainerSpec, ResourceLimits } from './container-spec.js';
import { PRESERVE_ENTRYPOINT_LABEL, ROLE_LABEL } from './labels.js';

/**
 * What the primary runs when CircleCI ignores the image's ENTRYPOINT/CMD: a
 * POSIX-shell idle loop (works in busybox) that exits at once on SIGTERM, so
 * that stopping the container does not wait for the kill timeout.
 */
const IDLE = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";
export const KEEP_ALIVE = ['/bin/sh', '-c', IDLE];

/** The line that ends a startup script's output in the primary's own output, followed by its exit code. */
export const STARTUP_END = '--deckhand-startup-end--';

/**
 * The idle loop preceded by the runner's startup script ($0 is the script, then its arguments),
 * whose output and exit code the executor reads from the container's attached output.
 */
function startupThenIdle(startup: StartupScript): string[] {
  return ['-c', `/bin/sh -c "$0" sh "$@" 2>&1; printf '\\n${STARTUP_END} %s\\n' "$?"; ${IDLE}`, startup.script, ...startup.args];
}

/** Whether the primary runs Deckhand's idle loop (and so can run a startup script) rather than its own process. */
export function primaryIdles(spec: ContainerSpec, image: ImageInspectInfo): boolean {
  return !(spec.entrypoint || spec.command) && image.Config?.Labels?.[PRESERVE_ENTRYPOINT_LABEL] !== 'true';
}

export interface Placement {
  /** Docker container name. */
  containerName: string;
  labels: Record<string, string>;
  resources?: ResourceLimits;
}

/** Hostnames that must resolve to the shared namespace, i.e. to 127.0.0.1. */
export function containerHostnames(specs: ContainerSpec[]): string[] {
  const names = specs.map((spec) => spec.name).filter((name): name is string => !!name && name !== 'localhost');
  return [...new Set(names)];
}

/**
 * The primary owns the job's network namespace. Its image's ENTRYPOINT/CMD are
 * replaced by an idle loop unless the job gives an entrypoint or command, or
 * the image carries com.circleci.preserve-entrypoint=true.
 */
export function primaryCreateOptions(
  spec: ContainerSpec,
  image: ImageInspectInfo,
  placement: Placement,
  network: string,
  hostnames: string[],
  startup?: StartupScript,
): ContainerCreateOptions {
  const process = primaryIdles(spec, image)
    ? { Entrypoint: KEEP_ALIVE.slice(0, 1), Cmd: startup ? startupThenIdle(startup) : KEEP_ALIVE.slice(1) }
    : { ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}), ...(spec.command ? { Cmd: spec.command } : {}) };
  return {
    ...common(spec, placement, 'primary'),
    ...process,
    HostConfig: {
      ...limits(placement.resources),
      NetworkMode: network,
      // Services share this namespace, so each of their names means "here".
      ExtraHosts: hostnames.map((name) => `${name}:127.0.0.1`),
    },
  };
}

/** A service joins the primary's network namespace: its ports are the
 *  primary's localhost. It runs its image's ENTRYPOINT/CMD unless overridden. */
export function serviceCreateOptions(spec: ContainerSpec, placement: Placement, primaryId: string): ContainerCreateOptions {
  return {
    ...common(spec, placement, 'service'),
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    ...(spec.command ? { Cmd: spec.command } : {}),
    HostConfig: { ...limits(placement.resources), NetworkMode: `container:${primaryId}` },
  };
}

function common(spec: ContainerSpec, placement: Placement, role: 'primary' | 'service'): ContainerCreateOptions {
  return {
    name: placement.containerName,
    Image: spec.image,
    ...(spec.user ? { User: spec.user } : {}),
    Env: Object.entries(spec.environment ?? {}).map(([key, value]) => `${key}=${value}`),
    Labels: { ...placement.labels, [ROLE_LABEL]: role },
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
  };
}

function limits(resources: ResourceLimits | undefined): { NanoCpus?: number; Memory?: number } {
  return {
    ...(resources?.cpus ? { NanoCpus: Math.round(resources.cpus * 1e9) } : {}),
    ...(resources?.memoryBytes ? { Memory: resources.memoryBytes } : {}),
  };
}
