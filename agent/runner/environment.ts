/**
 * The environment of a job's steps, in CircleCI's precedence (highest first): step `environment`
 * (applied by the run step), job `environment`, built-in variables, context variables, project
 * variables (`-e` and `--env-file` play the project's part locally). Built-ins are those of
 * CircleCI's variables reference, with local values.
 */
import type { JobSpec } from '../jobspec/jobspec.js';

export interface JobIdentity {
  /** unique per run: names the job's containers, workflow and workspace ids */
  runId: string;
  /** the workflow run's id, shared by its jobs (`deckhand run`); default: runId */
  workflowId?: string;
  nodeIndex: number;
  nodeTotal: number;
  /** the repository's remote URL, if the local repository has one */
  repositoryUrl?: string;
  username?: string;
  /** where the runner keeps per-job data inside the container (halt marker, BASH_ENV) */
  taskDataDir: string;
}

export function builtinEnvironment(spec: JobSpec, id: JobIdentity): Record<string, string> {
  const { git } = spec.pipeline;
  const [projectUser, projectRepo] = ownerAndRepo(id.repositoryUrl);
  const bashEnv = `${id.taskDataDir}/.bash_env`;
  const env: Record<string, string> = {
    CI: 'true',
    CIRCLECI: 'true',
    CIRCLE_BRANCH: git.branch,
    CIRCLE_SHA1: git.revision,
    CIRCLE_BUILD_NUM: String(spec.pipeline.number),
    CIRCLE_BUILD_URL: '',
    CIRCLE_JOB: spec.job.name,
    CIRCLE_STAGE: spec.job.name,
    CIRCLE_NODE_INDEX: String(id.nodeIndex),
    CIRCLE_NODE_TOTAL: String(id.nodeTotal),
    CIRCLE_PIPELINE_ID: spec.pipeline.id,
    CIRCLE_WORKFLOW_ID: id.workflowId ?? id.runId,
    CIRCLE_WORKFLOW_JOB_ID: id.runId,
    CIRCLE_WORKFLOW_WORKSPACE_ID: id.workflowId ?? id.runId,
    CIRCLE_PROJECT_USERNAME: projectUser,
    CIRCLE_PROJECT_REPONAME: projectRepo,
    CIRCLE_REPOSITORY_URL: id.repositoryUrl ?? '',
    CIRCLE_USERNAME: id.username ?? '',
    CIRCLE_WORKING_DIRECTORY: spec.workingDirectory,
    CIRCLE_INTERNAL_TASK_DATA: id.taskDataDir,
    BASH_ENV: bashEnv,
    CIRCLE_SHELL_ENV: bashEnv,
  };
  if (git.tag) env.CIRCLE_TAG = git.tag;
  return env;
}

/** The steps' environment before step `environment`: lowest precedence first, later wins. */
export function jobEnvironment(spec: JobSpec, id: JobIdentity, project: Record<string, string>, contexts: Record<string, string>): Record<string, string> {
  return { ...project, ...contexts, ...builtinEnvironment(spec, id), ...spec.environment };
}

/** `git@github.com:org/repo.git` or `https://host/org/repo` → [org, repo]. */
function ownerAndRepo(url: string | undefined): [string, string] {
  const m = url ? /[:/]([^/:]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url) : null;
  return m ? [m[1], m[2]] : ['', ''];
}
