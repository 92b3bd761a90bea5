/**
 * The environment of a job's steps, in CircleCI's precedence (highest first): step `environment`
 * (applied by the run step), job `environment`, built-in variables, context variables, project
 * variables. Built-ins are those of CircleCI's variables reference
 * (https://circleci.com/docs/variables/#built-in-environment-variables), made from the assignment.
 */
import type { JobAssignment } from '../assignment/assignment.js';

/** Where the runner keeps per-job data inside the primary (halt marker, BASH_ENV), as CircleCI does. */
export const TASK_DATA_DIR = '/tmp/.circleci-task-data';

export function builtinEnvironment(assignment: Pick<JobAssignment, 'spec' | 'run' | 'source' | 'storage'>): Record<string, string> {
  const { spec, run, source } = assignment;
  const { git } = spec.pipeline;
  // `gh/org/repo`
  const [, projectUser = '', projectRepo = ''] = run.projectSlug.split('/');
  const bashEnv = `${TASK_DATA_DIR}/.bash_env`;
  const env: Record<string, string> = {
    CI: 'true',
    CIRCLECI: 'true',
    CIRCLE_BRANCH: git.branch,
    CIRCLE_SHA1: git.revision,
    CIRCLE_BUILD_NUM: String(run.buildNumber),
    CIRCLE_BUILD_URL: '',
    CIRCLE_JOB: spec.job.name,
    CIRCLE_STAGE: spec.job.name,
    CIRCLE_NODE_INDEX: String(run.nodeIndex),
    CIRCLE_NODE_TOTAL: String(run.nodeTotal),
    CIRCLE_PIPELINE_ID: run.pipelineId,
    CIRCLE_WORKFLOW_ID: run.workflowId,
    CIRCLE_WORKFLOW_JOB_ID: run.workflowJobId,
    CIRCLE_WORKFLOW_WORKSPACE_ID: assignment.storage.workflowRunId,
    CIRCLE_PROJECT_USERNAME: projectUser,
    CIRCLE_PROJECT_REPONAME: projectRepo,
    CIRCLE_REPOSITORY_URL: (source.kind === 'git' ? source.url : source.repositoryUrl) ?? '',
    CIRCLE_USERNAME: run.username,
    CIRCLE_WORKING_DIRECTORY: spec.workingDirectory,
    CIRCLE_INTERNAL_TASK_DATA: TASK_DATA_DIR,
    BASH_ENV: bashEnv,
    CIRCLE_SHELL_ENV: bashEnv,
  };
  if (git.tag) env.CIRCLE_TAG = git.tag;
  return env;
}

/** The steps' environment before step `environment`: lowest precedence first, later wins. */
export function jobEnvironment(
  assignment: Pick<JobAssignment, 'spec' | 'run' | 'source' | 'storage'>,
  project: Record<string, string>,
  contexts: Record<string, string>,
): Record<string, string> {
  return { ...project, ...contexts, ...builtinEnvironment(assignment), ...assignment.spec.environment };
}
