/** `deckhand run`: flags → RunWorkflowOptions → the workflow runner. */
import { existsSync } from 'node:fs';
import { ConfigError, formatDiagnostic } from '../config/diagnostics.js';
import { UsageError } from '../usage-error.js';
import { runWorkflow } from '../workflow/run-workflow.js';
import { readPipelineParameters } from './config-process.js';
import type { RunFlags } from './main.js';

/** As for execute, a bad config is an input error (exit 2); exit 1 means a job failed. */
export async function runCommand(flags: RunFlags, color: boolean): Promise<number> {
  try {
    if (!existsSync(flags.config)) throw new UsageError(`config file ${flags.config} does not exist (use -c FILE)`);
    if (flags.checkoutKey && !existsSync(flags.checkoutKey)) throw new UsageError(`--checkout-key ${flags.checkoutKey} does not exist`);
    return await runWorkflow({
      config: flags.config,
      workflow: flags.workflow,
      env: flags.env,
      envFile: flags.envFile,
      context: flags.context,
      pull: flags.pull,
      skipCheckout: flags.skipCheckout === true,
      checkoutKey: flags.checkoutKey,
      color: color && !process.env.NO_COLOR && process.stdout.isTTY === true,
      branch: flags.branch,
      tag: flags.tag,
      revision: flags.revision,
      pipelineParameters: flags.pipelineParameters ? readPipelineParameters(flags.pipelineParameters) : undefined,
      approve: flags.approve,
      maxParallel: flags.maxParallel,
      logDir: flags.logDir,
      isolateNetwork: flags.isolateNetwork === true,
      store: flags.store,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const d of err.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    return 2;
  }
}
