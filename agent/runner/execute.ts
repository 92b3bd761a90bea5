/**
 * `deckhand execute`: compile one job of a config to its JobSpec, gather the local inputs
 * (project variables, contexts, keys), wire the output (masking → terminal or NDJSON, and a log
 * file), run the job on its executor, and clean up on every path — including Ctrl-C.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { PullPolicy } from '../executor/executor.js';
import { compileFile, findJob } from '../config/compile.js';
import { readGitInfo } from '../config/git-info.js';
import { deckhandHome } from '../config/orb-registry.js';
import { toJobSpec } from '../config/to-jobspec.js';
import type { JobSpec } from '../jobspec/jobspec.js';
import type { OutputSink } from '../output/events.js';
import { defaultLogPath, LogFileSink } from '../output/log-file.js';
import { MaskingSink } from '../output/masking-sink.js';
import { NdjsonSink } from '../output/ndjson.js';
import { TerminalSink } from '../output/terminal.js';
import { UsageError } from '../usage-error.js';
import { executorFor } from './executor-for.js';
import { runJob, SPIN_UP_STEP } from './job-runner.js';
import { loadContexts, parseEnvFlags, readEnvFile } from './secrets.js';

export interface ExecuteOptions {
  job: string;
  config: string;
  workflow?: string;
  env: string[];
  envFile?: string;
  context: string[];
  nodeTotal: number;
  index: number;
  pull: PullPolicy;
  skipCheckout: boolean;
  output: 'text' | 'json';
  color: boolean;
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: Record<string, string | number | boolean>;
  checkoutKey?: string;
  logFile?: string;
  isolateNetwork?: boolean;
}

/** Exit codes: 0 success, 1 job failed, 2 config/environment error, 130 interrupted. */
export async function execute(opts: ExecuteOptions): Promise<number> {
  if (!Number.isInteger(opts.nodeTotal) || opts.nodeTotal < 1) throw new UsageError(`--node-total must be a whole number of at least 1, got ${opts.nodeTotal}`);
  if (!Number.isInteger(opts.index) || opts.index < 0 || opts.index >= opts.nodeTotal) {
    throw new UsageError(`--index must be between 0 and ${opts.nodeTotal - 1} (--node-total ${opts.nodeTotal}), got ${opts.index}`);
  }
  const repository = process.cwd();
  const git = readGitInfo(repository);
  const compiled = compileFile(opts.config, {
    branch: opts.branch ?? (opts.tag ? undefined : git.branch),
    tag: opts.tag,
    revision: opts.revision ?? git.revision,
    gitUrl: git.remoteUrl,
    parameters: opts.pipelineParameters ?? {},
  });
  const found = findJob(compiled, opts.job, opts.workflow);
  const spec: JobSpec = toJobSpec(compiled, found.job, found.wfJob, found.workflow?.name);

  const project = { ...(opts.envFile ? readEnvFile(opts.envFile) : {}), ...parseEnvFlags(opts.env) };
  const contexts = loadContexts([...new Set([...spec.contexts, ...opts.context])]);
  const runId = randomUUID();
  const logFile = opts.logFile ?? defaultLogPath(spec.job.name);
  const sinks: OutputSink[] = [
    opts.output === 'json' ? new NdjsonSink(process.stdout) : new TerminalSink({ stream: process.stdout, color: opts.color }),
    new LogFileSink(logFile),
  ];
  const sink = new MaskingSink([...Object.values(project), ...Object.values(contexts)], sinks);

  const interrupts = new AbortController();
  let signals = 0;
  const jobId = `deckhand-${runId.slice(0, 8)}`;
  const onSignal = (name: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${name}: stopping the job and cleaning up (again to force)\n`);
      interrupts.abort();
      return;
    }
    // a second interrupt: remove what the job made, without waiting for steps to end
    process.stderr.write('forcing: removing the job\'s containers now\n');
    void import('../executor/docker/leftovers.js')
      .then(async ({ removeLeftovers }) => removeLeftovers((await import('../executor/docker/engine.js')).connectDocker(), jobId))
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let choice;
    try {
      // on a terminal the pull redraws one live line, written past the sinks so that the log
      // keeps no control characters; otherwise plain lines go into the job's output
      const tty = opts.output === 'text' && process.stdout.isTTY === true;
      const pullProgress = tty
        ? { write: (text: string) => void process.stdout.write(text), tty: true, columns: process.stdout.columns }
        : { write: (text: string) => sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(text) }), tty: false };
      choice = await executorFor(spec, { jobId, pull: opts.pull, isolateNetwork: opts.isolateNetwork === true, pullProgress });
    } catch (err) {
      await sink.close();
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    for (const n of choice.notes) sink.event({ type: 'output', index: SPIN_UP_STEP, stream: 'agent', data: Buffer.from(`note: ${n}\n`) });
    const result = await runJob({
      spec,
      executor: choice.executor,
      sink,
      identity: {
        runId,
        nodeIndex: opts.index,
        nodeTotal: opts.nodeTotal,
        repositoryUrl: git.remoteUrl,
        username: userInfo().username,
        taskDataDir: '/tmp/.circleci-task-data',
      },
      project,
      contexts,
      local: {
        repository,
        skipCheckout: opts.skipCheckout,
        sshKeysDir: join(deckhandHome(), 'ssh-keys'),
        ...(opts.checkoutKey ? { checkoutKey: resolve(opts.checkoutKey) } : {}),
      },
      signal: interrupts.signal,
      logFile,
    });
    await sink.close();
    if (result.status === 'canceled') return 130;
    if (result.infrastructureFailure) return 2;
    return result.status === 'success' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
