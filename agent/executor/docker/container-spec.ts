/**
 * What the Docker executor is made of: the job's containers as the JobSpec gives them, their
 * pull credentials, resource limits and the pull policy. Docker's own; the Executor interface
 * (../executor.ts) knows none of it.
 */

/** Credentials for pulling a private image (CircleCI's `auth:` key). */
export interface RegistryAuth {
  username: string;
  password: string;
}

/** Given credentials, or a way to fetch them that runs only when a pull needs them (an ECR token). */
export type RegistryCredentials = RegistryAuth | (() => Promise<RegistryAuth>);

/**
 * One container of a job, as the JobSpec describes it. The first container
 * of a job is the primary (steps run there); the rest are services.
 * Lists are already normalised: the compiler turns a string `command:` into
 * a one-element list (CircleCI accepts both forms).
 */
export interface ContainerSpec {
  image: string;
  /** Hostname by which the other containers reach this one (services). */
  name?: string;
  /** Replaces the image's ENTRYPOINT. */
  entrypoint?: string[];
  /** Replaces the image's CMD. */
  command?: string[];
  /** User the container (and, by default, every exec in it) runs as. */
  user?: string;
  /** Environment of the container's own process. */
  environment?: Record<string, string>;
  auth?: RegistryCredentials;
}

/** What a job may use; each container gets these limits. */
export interface ResourceLimits {
  /** CPU count, fractions allowed (e.g. 1.5). */
  cpus?: number;
  memoryBytes?: number;
}

/** When to fetch an image from its registry before starting a container. */
export type PullPolicy = 'always' | 'missing' | 'never';
