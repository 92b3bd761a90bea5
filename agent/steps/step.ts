/**
 * The contract every step type implements. A step gets the JobSpec step, the Executor of the
 * job and a context; it writes its output through `output` and returns how it ended. Steps never
 * know whether they run in Docker or on a machine over SSH.
 */
import type { Readable } from 'node:stream';
import type { Source } from '../assignment/assignment.js';
import type { VmProvider } from '../vm/provider.js';
import type { Executor } from '../executor/executor.js';
import type { Step } from '../jobspec/jobspec.js';
import type { OutputStreamName, StepStatus } from '../output/events.js';
import type { JobStorage } from '../store/job-storage.js';

export interface StepOutput {
  /** bytes the step's process wrote, or agent messages (`agent`), in order */
  write(stream: OutputStreamName, data: Buffer | string): void;
  /**
   * Writes everything `source` (a command's stdout or stderr) yields, pausing it while a sink
   * (a slow terminal or pipe) has no room, so the command waits instead of the agent's memory
   * growing. `hooks.chunk` runs on every chunk; `paused`/`resumed` bracket each wait. Resolves
   * once `source` ended and all of it was written: a step is over only then, since a held-back
   * command may exit while its last bytes still wait in `source`.
   */
  follow(stream: 'stdout' | 'stderr', source: Readable, hooks?: FollowHooks): Promise<void>;
}

export interface FollowHooks {
  chunk?(): void;
  paused?(): void;
  resumed?(): void;
}

export interface StepContext {
  executor: Executor;
  /** the job's environment for steps: built-ins, contexts, project vars and job `environment`, in CircleCI's precedence */
  environment: Record<string, string>;
  /** absolute working directory of the job (`~` expanded) */
  workingDirectory: string;
  /** home directory of the primary's user */
  home: string;
  /** the job's shell (`/bin/bash -eo pipefail` or `/bin/sh -eo pipefail` unless the config sets one) */
  shell: string;
  output: StepOutput;
  /** aborted on Ctrl-C / SIGTERM / job timeout */
  signal: AbortSignal;
  /** whether an earlier step failed (for `when: on_fail|always` and halt semantics) */
  jobFailed: boolean;
  /** where the code and keys come from, for the steps that bring them into the job */
  inputs: JobInputs;
  /** where caches, workspace layers, artifacts and test results go, and the ids that scope them */
  storage: JobStorage;
  /** what the job holds until its teardown */
  resources: JobResources;
  /** where VMs come from (setup_remote_docker), opened on first use; absent where the job may have none */
  vms?: () => Promise<VmProvider>;
}

export interface JobInputs {
  /** where `checkout` gets the code: a git remote, or a local folder */
  source: Source;
  /** the key to clone a git source with, as read from the assignment's reference at job start */
  checkoutKey?: { material: string; source: string };
  /** folder of private keys that `add_ssh_keys` installs; none: the job has no keys */
  sshKeysDir?: string;
}

export interface StepResult {
  status: StepStatus;
  exitCode?: number;
  /** one line shown with the step's end, e.g. "Too long with no output (exceeded 10m0s)" */
  message?: string;
  /** the step could not run because the executor's engine or machine went away */
  infrastructure?: boolean;
  /** variables every later step sees (setup_remote_docker's DOCKER_HOST and its TLS settings) */
  environment?: Record<string, string>;
}

/**
 * What a job holds besides its executor (a remote Docker engine's VM): each release runs once at
 * the job's teardown, on every path, after the executor's own.
 */
export interface JobResources {
  hold(release: () => Promise<void>): void;
}

export type StepHandler<S extends Step = Step> = (step: S, ctx: StepContext) => Promise<StepResult>;
