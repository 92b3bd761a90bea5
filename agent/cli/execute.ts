/**
 * `deckhand execute`: one job of the config in the current directory, compiled to its JobSpec,
 * made into an assignment with the local machine's inputs, and run by the core as `deckhand agent
 * run` would run it. `--print-assignment` prints that assignment instead of running it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { RuntimeSettings } from '../assignment/assignment.js';
import { findJob } from '../config/compile.js';
import { ConfigError, formatDiagnostic } from '../config/diagnostics.js';
import { toJobSpec } from '../config/to-jobspec.js';
import { UsageError } from '../errors.js';
import { defaultLogPath } from '../output/log-file.js';
import { outputTargetFromFlags, type OutputStreamFlags } from '../output/stream/stream-options.js';
import { localAssignment } from '../assignment/local.js';
import { compileLocalPipeline, type PipelineFlags } from '../assignment/local-pipeline.js';
import { readPipelineParameters } from './config-process.js';
import { localInputs, type LocalInputFlags } from './local-inputs.js';
import type { OrbFlags } from './orb-access.js';
import { withFetchedOrbs } from './pipeline-orbs.js';
import { configProblemLines } from './report-error.js';
import { runJobCommand } from './run-job.js';
import { sshFromFlags, withSshHost, type SshFlags } from './ssh-options.js';

/** The execute flags as commander parses them. */
export interface ExecuteFlags extends LocalInputFlags, OutputStreamFlags, OrbFlags, SshFlags {
  job: string;
  config: string;
  workflow?: string;
  nodeTotal: number;
  index: number;
  pull: RuntimeSettings['docker']['pull'];
  output: 'text' | 'json';
  logFile?: string;
  logFormat: 'text' | 'json';
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: string;
  printAssignment?: boolean;
  /** hidden flags standing for a workflow around this job: its run id, this job's run id, the upstream job runs whose workspace layers attach_workspace applies */
  workflowRunId?: string;
  jobRunId?: string;
  upstreamJobRunId?: string[];
}

/** Exit codes: 0 success, 1 job failed, 2 config/input/environment error or output lost, 130/143 canceled. */
export async function executeCommand(flags: ExecuteFlags, color: boolean): Promise<number> {
  try {
    return await execute(flags, color);
  } catch (err) {
    // for execute, a bad config is an input error (exit 2); exit 1 means the job itself failed
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(configProblemLines(err));
    return 2;
  }
}

async function execute(flags: ExecuteFlags, color: boolean): Promise<number> {
  if (!existsSync(flags.config)) throw new UsageError(`config file ${flags.config} does not exist (use -c FILE)`);
  if (!Number.isInteger(flags.nodeTotal) || flags.nodeTotal < 1) throw new UsageError(`--node-total must be a whole number of at least 1, got ${flags.nodeTotal}`);
  if (!Number.isInteger(flags.index) || flags.index < 0 || flags.index >= flags.nodeTotal) {
    throw new UsageError(`--index must be between 0 and ${flags.nodeTotal - 1} (--node-total ${flags.nodeTotal}), got ${flags.index}`);
  }
  const inputs = localInputs(flags, process.env);
  const ssh = sshFromFlags(flags);
  const repository = process.cwd();
  const pipeline: PipelineFlags = { config: flags.config, branch: flags.branch, tag: flags.tag, revision: flags.revision, pipelineParameters: flags.pipelineParameters ? readPipelineParameters(flags.pipelineParameters) : undefined };
  const { compiled, git } = compileLocalPipeline(await withFetchedOrbs(pipeline, repository, flags), repository);
  for (const w of compiled.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
  const found = findJob(compiled, flags.job, flags.workflow);
  const spec = toJobSpec(compiled, found.job, found.wfJob, found.workflow?.name);
  const runId = flags.jobRunId ?? randomUUID();
  const output = outputTargetFromFlags(flags, runId, process.env);
  const local = localAssignment({
    spec,
    repository,
    git,
    runId,
    workflowRunId: flags.workflowRunId ?? runId,
    nodeIndex: flags.index,
    nodeTotal: flags.nodeTotal,
    username: userInfo().username,
    storeUrl: inputs.storeUrl,
    upstreamJobRunIds: flags.upstreamJobRunId ?? [],
    skipCheckout: flags.skipCheckout === true,
    ...(flags.checkoutKey !== undefined ? { checkoutKey: resolve(flags.checkoutKey) } : {}),
    project: inputs.project,
    contexts: { names: flags.context, file: inputs.contextsFile },
    sshKeysDir: inputs.sshKeysDir,
    output: output?.target ?? null,
    runtime: inputs.runtime,
    ...(ssh ? { ssh } : {}),
  });
  const { environment, warnings } = local;
  // the address to show is the running machine's: a printed assignment may run elsewhere (agent run fills it there)
  const assignment = flags.printAssignment ? local.assignment : withSshHost(local.assignment);
  for (const w of warnings) process.stderr.write(`deckhand: warning: ${w}\n`);
  // what the command line gave travels in the agent's environment, never in the assignment
  const given = { ...inputs.environment, ...environment, ...output?.environment };
  if (flags.printAssignment) {
    process.stdout.write(`${JSON.stringify(assignment, null, 2)}\n`);
    const names = Object.keys(given);
    if (names.length > 0) process.stderr.write(`deckhand: the assignment reads ${names.map((n) => `$${n}`).join(', ')} from the agent's environment: set ${names.length === 1 ? 'it' : 'them'} when you run it\n`);
    return 0;
  }
  return runJobCommand(assignment, {
    output: flags.output,
    color: color && !process.env.NO_COLOR && process.stdout.isTTY === true,
    logFormat: flags.logFormat,
    logFile: flags.logFile ?? defaultLogPath(spec.job.name),
    env: { ...process.env, ...given },
  });
}
