/** `deckhand run`: flags → the workflow runner, with the terminal for approvals and Ctrl-C. */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { EXIT_ERROR, UsageError } from '../errors.js';
import type { RuntimeSettings } from '../assignment/assignment.js';
import { askingApprover, fixedApprover, type ApprovalPolicy, type Approver } from '../workflow/approval.js';
import type { WorkflowGraph } from '../workflow/graph.js';
import { startWorkflow } from '../workflow/run-workflow.js';
import { readPipelineParameters } from './config-process.js';
import { watchInterrupts } from './interrupts.js';
import { localInputs, type LocalInputFlags } from './local-inputs.js';
import type { OrbFlags } from './orb-access.js';
import { withFetchedOrbs } from './pipeline-orbs.js';
import { configProblemLines } from './report-error.js';
import { reclaimInBackground } from './reclaim.js';
import { agentLogger, watchClosedOutput, writeIfOpen } from './run-job.js';

/** The run flags as commander parses them. */
export interface RunFlags extends LocalInputFlags, OrbFlags {
  config: string;
  workflow?: string;
  pull: RuntimeSettings['docker']['pull'];
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: string;
  approve?: ApprovalPolicy;
  maxParallel?: number;
  logDir?: string;
}

/** As for execute, a bad config is an input error (exit 2); exit 1 means a job failed. */
export async function runCommand(flags: RunFlags, color: boolean): Promise<number> {
  try {
    if (!existsSync(flags.config)) throw new UsageError(`config file ${flags.config} does not exist (use -c FILE)`);
    const inputs = localInputs(flags, process.env);
    const log = agentLogger('text');
    // what dead agents left is removed while this workflow starts
    const reclaiming = reclaimInBackground(log);
    const pipeline = {
      config: flags.config,
      branch: flags.branch,
      tag: flags.tag,
      revision: flags.revision,
      pipelineParameters: flags.pipelineParameters ? readPipelineParameters(flags.pipelineParameters) : undefined,
    };
    const workflow = startWorkflow({
      ...(await withFetchedOrbs(pipeline, process.cwd(), flags)),
      workflow: flags.workflow,
      repository: process.cwd(),
      jobs: {
        username: userInfo().username,
        storeUrl: inputs.storeUrl,
        skipCheckout: flags.skipCheckout === true,
        ...(flags.checkoutKey !== undefined ? { checkoutKey: resolve(flags.checkoutKey) } : {}),
        project: inputs.project,
        contexts: { names: flags.context, file: inputs.contextsFile },
        sshKeysDir: inputs.sshKeysDir,
        runtime: inputs.runtime,
      },
      env: { ...process.env, ...inputs.environment },
      out: process.stdout,
      color: color && !process.env.NO_COLOR && process.stdout.isTTY === true,
      log,
      approver: (graph) => chooseApprover(graph, flags.approve),
      ...(flags.maxParallel !== undefined ? { maxParallel: flags.maxParallel } : {}),
      ...(flags.logDir !== undefined ? { logDir: resolve(flags.logDir) } : {}),
    });
    // a reader that went away is a cancel, as for one job
    const closed = watchClosedOutput(() => workflow.cancel('SIGTERM'));
    const unwatch = watchInterrupts({
      what: 'every job',
      cancel: (signal) => workflow.cancel(signal),
      forceCleanup: () => workflow.forceCleanup(),
      say: (line) => log.log('warn', line),
    });
    try {
      const code = await workflow.result;
      if (closed.stream) {
        writeIfOpen(process.stderr, `deckhand: ${closed.stream} was closed by its reader while the workflow ran: its jobs were stopped and cleaned up; their logs are in ${flags.logDir ?? 'the default log folder'}\n`);
        return EXIT_ERROR;
      }
      return code;
    } finally {
      unwatch();
      closed.stop();
      await reclaiming;
    }
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(configProblemLines(err));
    return 2;
  }
}

function chooseApprover(graph: WorkflowGraph, policy: ApprovalPolicy | undefined): Approver {
  if (policy) return fixedApprover(policy);
  const approvals = graph.nodes.filter((n) => n.type === 'approval').map((n) => n.name);
  if (approvals.length === 0) return fixedApprover('none');
  if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
    throw new UsageError(`workflow "${graph.workflow}" has approval job${approvals.length === 1 ? '' : 's'} ${approvals.join(', ')} and this is not a terminal to ask on; pass --approve all or --approve none`);
  }
  return askingApprover(process.stdin, process.stdout);
}
