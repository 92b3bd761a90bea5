/**
 * The JobSpec: one job of one workflow, fully resolved by the compiler. It is the only thing the
 * agent reads — the agent never parses config.yml. Versioned; `jobspec.schema.json` beside this
 * file is its JSON Schema and `docs/jobspec.md` documents every field.
 */

export const JOBSPEC_VERSION = 1 as const;

export interface JobSpec {
  schemaVersion: typeof JOBSPEC_VERSION;
  /** identity of the job within its pipeline */
  job: JobIdentity;
  /** the workflow this instance belongs to; absent for a job compiled on its own */
  workflow?: WorkflowIdentity;
  executor: ExecutorSpec;
  resources: ResourceSpec;
  /** job-level shell; absent means CircleCI's default (bash -eo pipefail if present, else sh -eo pipefail) */
  shell?: string;
  /** as written, `~` not yet expanded (the executor knows the home directory) */
  workingDirectory: string;
  /** job `environment` merged over the executor's */
  environment: Record<string, string>;
  parallelism: number;
  /** `retention.caches` in days: how long the caches this job saves count; absent means the store's default (15) */
  cacheRetentionDays?: number;
  steps: Step[];
  /** contexts named by the workflow entry; their values are the runner's business */
  contexts: string[];
  pipeline: PipelineValues;
}

export interface JobIdentity {
  /** the name the job has in its workflow (after matrix expansion and `name:`) */
  name: string;
  /** the job definition it was made from, e.g. `test` or `node/test` */
  definition: string;
  type: 'build' | 'release' | 'no-op' | 'approval';
}

export interface WorkflowIdentity {
  name: string;
  /** names of the jobs this one requires, with the statuses each must end in */
  requires: Record<string, RequiredStatus[]>;
}

export type RequiredStatus = 'success' | 'failed' | 'canceled' | 'unauthorized' | 'not_run';

export type ExecutorSpec = DockerExecutorSpec | MachineExecutorSpec | MacosExecutorSpec | NoExecutorSpec;

/** A `type: no-op` job runs no steps and needs no machine. */
export interface NoExecutorSpec {
  kind: 'none';
}

export interface DockerExecutorSpec {
  kind: 'docker';
  /** the first is the primary container, where steps run; the rest are services */
  containers: ContainerImageSpec[];
}

export interface ContainerImageSpec {
  image: string;
  /** hostname the service is reachable by; absent means localhost only */
  name?: string;
  entrypoint?: string[];
  command?: string[];
  user?: string;
  /** for the container's own process (entrypoint/command), not for steps */
  environment: Record<string, string>;
  auth?: { username: string; password: string };
  awsAuth?: { accessKeyId?: string; secretAccessKey?: string; oidcRoleArn?: string };
}

export interface MachineExecutorSpec {
  kind: 'machine';
  /** absent for `machine: true` (CircleCI Server's default machine image) */
  image?: string;
  dockerLayerCaching: boolean;
}

export interface MacosExecutorSpec {
  kind: 'macos';
  xcode: string;
}

export interface ResourceSpec {
  class: string;
  cpus: number;
  memoryMb: number;
}

/** When a step runs, relative to the job's state so far (CircleCI's `when` attribute). */
export type StepCondition = 'on_success' | 'on_fail' | 'always';

interface StepBase {
  /** shown in the step header */
  name: string;
  when: StepCondition;
}

export interface RunStep extends StepBase {
  type: 'run';
  command: string;
  shell?: string;
  environment: Record<string, string>;
  background: boolean;
  /** relative to the job's working directory, or absolute */
  workingDirectory?: string;
  noOutputTimeoutSeconds: number;
  maxAutoReruns?: number;
  autoRerunDelaySeconds?: number;
}

export interface CheckoutStep extends StepBase {
  type: 'checkout';
  /** where to check out, relative to the working directory; absent means the working directory */
  path?: string;
  method: 'blobless' | 'full';
}

export interface SetupRemoteDockerStep extends StepBase {
  type: 'setup_remote_docker';
  version?: string;
  dockerLayerCaching: boolean;
}

export interface SaveCacheStep extends StepBase {
  type: 'save_cache';
  key: string;
  paths: string[];
}

export interface RestoreCacheStep extends StepBase {
  type: 'restore_cache';
  /** tried in order, each as a prefix */
  keys: string[];
}

export interface StoreArtifactsStep extends StepBase {
  type: 'store_artifacts';
  path: string;
  destination?: string;
}

export interface StoreTestResultsStep extends StepBase {
  type: 'store_test_results';
  path: string;
}

export interface PersistToWorkspaceStep extends StepBase {
  type: 'persist_to_workspace';
  root: string;
  paths: string[];
}

export interface AttachWorkspaceStep extends StepBase {
  type: 'attach_workspace';
  at: string;
}

export interface AddSshKeysStep extends StepBase {
  type: 'add_ssh_keys';
  /** empty means every key of the project */
  fingerprints: string[];
}

export type Step =
  | RunStep
  | CheckoutStep
  | SetupRemoteDockerStep
  | SaveCacheStep
  | RestoreCacheStep
  | StoreArtifactsStep
  | StoreTestResultsStep
  | PersistToWorkspaceStep
  | AttachWorkspaceStep
  | AddSshKeysStep;

export type StepType = Step['type'];

/**
 * Pipeline values as CircleCI exposes them to `<< pipeline.* >>`. Locally most come from the git
 * repository and the command line.
 */
export interface PipelineValues {
  id: string;
  number: number;
  trigger_source: string;
  schedule: { name: string; id: string };
  project: { git_url: string; type: string; slug: string; name: string };
  git: {
    tag: string;
    branch: string;
    revision: string;
    base_revision: string;
  };
  parameters: Record<string, string | number | boolean>;
}
