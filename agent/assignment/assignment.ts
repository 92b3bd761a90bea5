/**
 * The JobAssignment: one run of one job (one parallel node), self-contained and versioned. Every
 * front end makes one (`deckhand execute`, `deckhand run`, a Nomad dispatch payload, the control
 * API) and one core runs it (agent/runner/run-assignment.ts). It holds the JobSpec unchanged and
 * everything around it that a run needs; nothing of the machine that made it, and never a secret
 * value: secrets are references to files, folders or the agent's environment variables, read when
 * the job starts (as a Nomad `template` or a mounted secret provides them), so that no secret is
 * ever stored in a scheduler's state.
 *
 * `assignment.schema.json` beside this file is its JSON Schema; `docs/assignment.md` documents it.
 */
import type { JobSpec } from '../jobspec/jobspec.js';
import type { VmProviderName } from '../vm/provider.js';

export const ASSIGNMENT_VERSION = 1 as const;

export interface JobAssignment {
  assignmentVersion: typeof ASSIGNMENT_VERSION;
  spec: JobSpec;
  run: RunIdentity;
  source: Source;
  secrets: SecretReferences;
  storage: StorageScope;
  /** where the job's output is streamed besides the front end's own display; null: nowhere */
  output: OutputTarget | null;
  limits: Limits;
  /** how the executor runs the job: settings of the runtime, not of the job */
  runtime: RuntimeSettings;
  /** SSH into the job (a rerun with SSH); absent: none */
  ssh?: SshSettings;
}

/** What CircleCI's built-in variables are made of (docs/assignment.md maps each one). */
export interface RunIdentity {
  /** this job run (one parallel node): names its containers, scopes nothing else by itself */
  id: string;
  /** CIRCLE_BUILD_NUM */
  buildNumber: number;
  /** CIRCLE_WORKFLOW_ID */
  workflowId: string;
  /** CIRCLE_WORKFLOW_JOB_ID */
  workflowJobId: string;
  /** CIRCLE_NODE_INDEX, 0-based, below nodeTotal */
  nodeIndex: number;
  /** CIRCLE_NODE_TOTAL */
  nodeTotal: number;
  /** CIRCLE_PIPELINE_ID */
  pipelineId: string;
  pipelineNumber: number;
  /** `gh/org/repo`: CIRCLE_PROJECT_USERNAME and CIRCLE_PROJECT_REPONAME; empty when unknown */
  projectSlug: string;
  /** CIRCLE_USERNAME: who triggered the pipeline */
  username: string;
}

/** Where `checkout` gets the code. */
export type Source = GitSource | LocalSource;

/** Cloned inside the job, as CircleCI does. */
export interface GitSource {
  kind: 'git';
  /** CIRCLE_REPOSITORY_URL */
  url: string;
  /** the commit to check out (CIRCLE_SHA1); absent: the tip of the branch or tag */
  revision?: string;
  branch?: string;
  tag?: string;
  /** the private key for an SSH URL; none for a public https URL */
  checkoutKey?: SecretRef;
}

/** A folder on the agent's machine, copied in as it is (a developer's local run). */
export interface LocalSource {
  kind: 'local';
  /** absolute path of the working tree */
  path: string;
  /** its origin remote, if any: CIRCLE_REPOSITORY_URL */
  repositoryUrl?: string;
  /** `checkout` leaves the working directory as the job found it */
  skipCheckout?: boolean;
}

/** A secret's value lives in a file (read at job start) or in an environment variable of the agent. */
export type SecretRef = { file: string } | { env: string };

export interface SecretReferences {
  /** project variables: `KEY=VALUE` files, read in order (later wins), then variables of the agent's environment taken by name */
  project?: { files?: string[]; env?: string[] };
  /** contexts by name, from a YAML map of context name to variables (`file`) or a folder of `NAME.env` files (`dir`) */
  contexts?: { names: string[]; file?: string; dir?: string };
  /** the folder of private keys `add_ssh_keys` installs (one key per file) */
  sshKeysDir?: string;
}

/** The blob store and the ids that scope what the job keeps in it (docs/storage.md). */
export interface StorageScope {
  /** an absolute folder, or `s3://bucket/prefix` */
  url: string;
  /** scopes caches and test timings: one project */
  project: string;
  /** scopes workspaces: one workflow run */
  workflowRunId: string;
  /** scopes artifacts and test results: this job run */
  jobRunId: string;
  /** the job runs whose workspace layers `attach_workspace` applies, oldest first */
  upstreamJobRunIds: string[];
}

export interface OutputTarget {
  /** the output processor's gRPC address, HOST:PORT */
  processor: string;
  /** the job's id at the processor */
  jobId: string;
  /** the job's token; or `tokenSecretFile`, the processor's token secret (its DATA/secret) to mint it from */
  token?: SecretRef;
  tokenSecretFile?: string;
  /** TLS: the CA that signed the processor's certificate, and a client certificate if it wants one (paths) */
  tls?: { ca: string; cert?: string; key?: string };
  /** how long to keep delivering after the job ended */
  deadlineSeconds: number;
  /** the processor's HTTP address, to name the job's page */
  url?: string;
}

export interface Limits {
  /** the job is canceled after this long (CircleCI's maximum run time); absent: no limit */
  maxRunSeconds?: number;
  /** the resource class the job was scheduled with */
  resourceClass: string;
}

export interface RuntimeSettings {
  docker: {
    /** when to pull images */
    pull: 'always' | 'missing' | 'never';
    /** `bridge`: Docker's default bridge; `isolated`: a network of the job's own */
    network: 'bridge' | 'isolated';
  };
  /** where `machine` jobs' VMs and `setup_remote_docker`'s engines come from; absent: the docker provider */
  machine?: MachineSettings;
}

export interface MachineSettings {
  provider: VmProviderName;
  /** the static provider's pool file (absolute) */
  poolFile?: string;
  /** the aws provider's settings */
  aws?: AwsVmSettings;
}

/** Where the aws provider launches instances. Credentials come from the agent's environment, never from here. */
export interface AwsVmSettings {
  region: string;
  subnetId: string;
  securityGroupIds: string[];
  /** machine image name → AMI id; `default` for `machine: true` */
  images: Record<string, string>;
  /** resource class → instance type, over the built-in table */
  instanceTypes?: Record<string, string>;
  /** instances kept booted ahead of jobs (0: none) */
  warmPool?: number;
  /** the instance's address the agent connects to: `private` (default; the agent in the same VPC) or `public` */
  address?: 'private' | 'public';
}

/**
 * SSH into the job: its own SSH server, public keys only, sessions in the job (docs/ssh-into-builds.md).
 * The keys are references like secrets' (files read at job start), though public.
 */
export interface SshSettings {
  enabled: boolean;
  /** files of OpenSSH public keys (authorized_keys lines, or `*.pub` files), absolute */
  authorizedKeys?: string[];
  /**
   * OpenSSH public key lines given inline (`ssh-ed25519 AAAA… comment`), for an agent that does
   * not share the files of whoever dispatched it (a Nomad client). Public, so fine in a payload.
   * With `authorizedKeys`, both count; at least one key overall.
   */
  authorizedKeyLines?: string[];
  /** the port to listen on; or `ports`: the first free one of a range. Default: ports 64535–65535 */
  port?: number;
  ports?: { first: number; last: number };
  /** the address to listen on; absent: all */
  listen?: string;
  /** the address people connect to, printed in `ssh -p PORT USER@HOST`; absent: the agent's own (its front end picks one) */
  host?: string;
  /** the port people connect to when it is not the one listened on (behind NAT, Nomad's bridge networking) */
  advertisedPort?: number;
  /** how long the end of the job waits for a first session. Default 600 (CircleCI: 10 minutes) */
  waitSeconds?: number;
  /** how long the end of the job is held while sessions are open. Default 7200 (CircleCI: 2 hours) */
  maxHoldSeconds?: number;
  /** a connection that has not logged in within this is closed. Default 30 */
  loginGraceSeconds?: number;
}
