/**
 * The assignments of local runs: `deckhand execute` and `deckhand run` build theirs here, in one
 * place, from a compiled JobSpec and what the developer's machine and flags give. Secret values
 * given on the command line never go into the assignment: they travel in the agent's environment
 * (the `environment` returned here), and the assignment names them.
 */
import type { GitInfo } from '../config/git-info.js';
import type { JobSpec } from '../jobspec/jobspec.js';
import { ASSIGNMENT_VERSION, type JobAssignment, type OutputTarget, type RuntimeSettings, type Source, type SshSettings } from './assignment.js';

export interface LocalRun {
  spec: JobSpec;
  /** the repository the run comes from (absolute): the local source, and the cache scope when it has no origin remote */
  repository: string;
  git: GitInfo;
  /** this job run's id (a fresh UUID per parallel node) */
  runId: string;
  /** the workflow run's id: scopes workspaces; a lone `deckhand execute` is a workflow of its own */
  workflowRunId: string;
  nodeIndex: number;
  nodeTotal: number;
  /** who runs it: CIRCLE_USERNAME */
  username: string;
  /** an absolute folder or s3://bucket/prefix */
  storeUrl: string;
  /** the job runs whose workspace layers attach_workspace applies, oldest first */
  upstreamJobRunIds: string[];
  skipCheckout: boolean;
  /** absolute path of a private key: clone the origin remote with it instead of copying the local tree */
  checkoutKey?: string;
  /** project variables: KEY=VALUE files (absolute paths), and names read from the agent's environment */
  project: { files: string[]; env: string[] };
  /** contexts given on the command line, besides those the workflow names; `file` is the contexts file */
  contexts: { names: string[]; file: string };
  sshKeysDir: string;
  output: OutputTarget | null;
  runtime: RuntimeSettings;
  /** SSH into the job (`--ssh`) */
  ssh?: SshSettings;
}

export interface LocalAssignment {
  assignment: JobAssignment;
  /** variables the agent's environment must carry for the assignment's references */
  environment: Record<string, string>;
  /** one line each, for the user: a literal secret in config.yml */
  warnings: string[];
}

export function localAssignment(local: LocalRun): LocalAssignment {
  const { spec: compiled, git } = local;
  const { spec, environment, warnings } = literalSecretsByReference(compiled);
  const source: Source =
    local.checkoutKey !== undefined && git.remoteUrl
      ? {
          kind: 'git',
          url: git.remoteUrl,
          ...(spec.pipeline.git.revision && !/^0+$/.test(spec.pipeline.git.revision) ? { revision: spec.pipeline.git.revision } : {}),
          ...(spec.pipeline.git.branch ? { branch: spec.pipeline.git.branch } : {}),
          ...(spec.pipeline.git.tag ? { tag: spec.pipeline.git.tag } : {}),
          checkoutKey: { file: local.checkoutKey },
        }
      : { kind: 'local', path: local.repository, ...(git.remoteUrl ? { repositoryUrl: git.remoteUrl } : {}), ...(local.skipCheckout ? { skipCheckout: true } : {}) };
  const contextNames = [...new Set([...spec.contexts, ...local.contexts.names])];
  const projectEnv = [...new Set([...local.project.env, ...Object.keys(environment)])];
  const assignment: JobAssignment = {
    assignmentVersion: ASSIGNMENT_VERSION,
    spec,
    run: {
      id: local.runId,
      buildNumber: spec.pipeline.number,
      workflowId: local.workflowRunId,
      workflowJobId: local.runId,
      nodeIndex: local.nodeIndex,
      nodeTotal: local.nodeTotal,
      pipelineId: spec.pipeline.id,
      pipelineNumber: spec.pipeline.number,
      projectSlug: spec.pipeline.project.slug,
      username: local.username,
    },
    source,
    secrets: {
      ...(local.project.files.length > 0 || projectEnv.length > 0 ? { project: { ...(local.project.files.length > 0 ? { files: local.project.files } : {}), ...(projectEnv.length > 0 ? { env: projectEnv } : {}) } } : {}),
      ...(contextNames.length > 0 ? { contexts: { names: contextNames, file: local.contexts.file } } : {}),
      sshKeysDir: local.sshKeysDir,
    },
    storage: {
      url: local.storeUrl,
      // caches are the project's: clones of one repository share them, as CircleCI's project does
      project: git.remoteUrl || local.repository,
      workflowRunId: local.workflowRunId,
      jobRunId: local.runId,
      upstreamJobRunIds: local.upstreamJobRunIds,
    },
    output: local.output,
    limits: { resourceClass: spec.resources.class },
    runtime: local.runtime,
    ...(local.ssh ? { ssh: local.ssh } : {}),
  };
  return { assignment, environment, warnings };
}

/**
 * An image `auth.password` or `aws_auth.aws_secret_access_key` written as a literal in config.yml
 * is a secret in the config: warned about, and moved out of the JobSpec into a variable of the
 * agent's environment that the spec names instead (`$DECKHAND_IMAGE_1_PASSWORD`), as a project
 * variable would be. Values that already name a variable stay as they are.
 */
export function literalSecretsByReference(spec: JobSpec): { spec: JobSpec; environment: Record<string, string>; warnings: string[] } {
  if (spec.executor.kind !== 'docker') return { spec, environment: {}, warnings: [] };
  const environment: Record<string, string> = {};
  const warnings: string[] = [];
  const literal = (value: string): boolean => value !== '' && !value.includes('$');
  const containers = spec.executor.containers.map((c, i) => {
    const name = `DECKHAND_IMAGE_${i + 1}`;
    let out = c;
    if (c.auth && literal(c.auth.password)) {
      environment[`${name}_PASSWORD`] = c.auth.password;
      warnings.push(`job "${spec.job.name}", image ${c.image}: auth.password is written in config.yml; use a project variable ($DOCKERHUB_PASSWORD) instead. It is passed as $${name}_PASSWORD`);
      out = { ...out, auth: { ...c.auth, password: `$${name}_PASSWORD` } };
    }
    if (c.awsAuth?.secretAccessKey !== undefined && literal(c.awsAuth.secretAccessKey)) {
      environment[`${name}_AWS_SECRET_ACCESS_KEY`] = c.awsAuth.secretAccessKey;
      warnings.push(`job "${spec.job.name}", image ${c.image}: aws_auth.aws_secret_access_key is written in config.yml; use a project variable instead. It is passed as $${name}_AWS_SECRET_ACCESS_KEY`);
      out = { ...out, awsAuth: { ...c.awsAuth, secretAccessKey: `$${name}_AWS_SECRET_ACCESS_KEY` } };
    }
    return out;
  });
  if (warnings.length === 0) return { spec, environment, warnings };
  return { spec: { ...spec, executor: { ...spec.executor, containers } }, environment, warnings };
}
