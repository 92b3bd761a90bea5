/** `deckhand execute`: flags → ExecuteOptions → the runner. */
import { existsSync } from 'node:fs';
import { ConfigError, formatDiagnostic } from '../config/diagnostics.js';
import { execute } from '../runner/execute.js';
import { readPipelineParameters } from './config-process.js';
import { parseOutputStreamFlags } from '../output/stream/stream-options.js';
import { UsageError } from '../usage-error.js';
import type { ExecuteFlags } from './main.js';

/** For execute, a bad config is an input error (exit 2); exit 1 means the job itself failed. */
export async function executeCommand(flags: ExecuteFlags, color: boolean): Promise<number> {
  try {
    return await run(flags, color);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const d of err.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    return 2;
  }
}

async function run(flags: ExecuteFlags, color: boolean): Promise<number> {
  if (!existsSync(flags.config)) throw new UsageError(`config file ${flags.config} does not exist (use -c FILE)`);
  if (flags.checkoutKey && !existsSync(flags.checkoutKey)) throw new UsageError(`--checkout-key ${flags.checkoutKey} does not exist`);
  return execute({
    job: flags.job,
    config: flags.config,
    workflow: flags.workflow,
    env: flags.env,
    envFile: flags.envFile,
    context: flags.context,
    nodeTotal: flags.nodeTotal,
    index: flags.index,
    pull: flags.pull,
    skipCheckout: flags.skipCheckout === true,
    output: flags.output,
    color: color && !process.env.NO_COLOR && process.stdout.isTTY === true,
    branch: flags.branch,
    tag: flags.tag,
    revision: flags.revision,
    pipelineParameters: flags.pipelineParameters ? readPipelineParameters(flags.pipelineParameters) : undefined,
    checkoutKey: flags.checkoutKey,
    logFile: flags.logFile,
    isolateNetwork: flags.isolateNetwork === true,
    outputStream: parseOutputStreamFlags(flags),
    store: flags.store,
    workflowRunId: flags.workflowRunId,
    jobRunId: flags.jobRunId,
    upstreamJobRunIds: flags.upstreamJobRunId,
  });
}
