/**
 * `deckhand agent run --assignment FILE|-`: runs one JobAssignment, as any front end made it
 * (`deckhand execute --print-assignment`, a dispatcher, the control API), with the same output
 * as `deckhand execute`. `deckhand agent nomad-task`: the same, as the main task of a Nomad job.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAssignment, parseAssignmentText } from '../assignment/validate.js';
import { errorKind, errorMessage, exitCodeFor, UsageError } from '../errors.js';
import type { ClientSettings } from '../nomad/client-settings.js';
import { defaultLogPath } from '../output/log-file.js';
import { agentLogger, runJobCommand } from './run-job.js';

export interface AgentRunFlags {
  assignment: string;
  output: 'text' | 'json';
  logFormat: 'text' | 'json';
  logFile?: string;
}

export async function agentRunCommand(flags: AgentRunFlags, color: boolean): Promise<number> {
  const parsed = parseAssignmentText(readAssignment(flags.assignment), flags.assignment === '-' ? 'from standard input' : flags.assignment);
  const { withSshHost } = await import('./ssh-options.js');
  const assignment = withSshHost(parsed);
  return runJobCommand(assignment, {
    output: flags.output,
    color: color && !process.env.NO_COLOR && process.stdout.isTTY === true,
    logFormat: flags.logFormat,
    logFile: flags.logFile ?? defaultLogPath(assignment.spec.job.name),
    env: process.env,
  });
}

function readAssignment(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`--assignment ${path} cannot be read (${code ?? (err as Error).message}); give a file written by deckhand execute --print-assignment, or - for standard input`);
  }
}

/** The client's settings (store, output processor) come as flags of the same names. */
export interface NomadTaskFlags extends ClientSettings {
  payload?: string;
  killTimeout?: string;
  /** where to record the exit code at the end ({"exitCode": N}), for a task driver that outlived its view of the process */
  exitFile?: string;
  output: 'text' | 'json';
  logFormat: 'text' | 'json';
  logFile?: string;
}

/**
 * `deckhand agent nomad-task`: the entry point of a Nomad task. The assignment comes from the
 * dispatch payload (`$NOMAD_TASK_DIR/payload`); the job's meta may set this task's parallel node;
 * the allocation is recorded in the job's log; Nomad's kill signal cancels the job within the
 * kill timeout. Failures before the job starts are JSON log lines too: operators read them with
 * `nomad alloc logs -stderr`.
 */
export async function agentNomadTaskCommand(flags: NomadTaskFlags): Promise<number> {
  const code = await runNomadTask(flags);
  if (flags.exitFile) recordExit(flags.exitFile, code);
  return code;
}

/** Written whole or not at all: the driver reads it once the process is gone. */
function recordExit(file: string, exitCode: number): void {
  try {
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ exitCode, at: new Date().toISOString() })}\n`);
    renameSync(`${file}.tmp`, file);
  } catch (err) {
    agentLogger('json').log('warn', `cannot record the exit code in --exit-file ${file}: ${(err as Error).message}`);
  }
}

async function runNomadTask(flags: NomadTaskFlags): Promise<number> {
  const log = agentLogger(flags.logFormat);
  try {
    const [{ readNomadTask, readNodeSlice, describeNomadTask }, { readDispatchPayload, resolvePayloadPath }, { parseKillTimeout, splitKillTimeout }, { expandTaskPaths }, { applyClientSettings }, { containerJobIdFor }, { withNomadSshPort }, { withSshHost }] = await Promise.all([
      import('../nomad/task-env.js'),
      import('../nomad/payload.js'),
      import('../nomad/kill-timeout.js'),
      import('../nomad/task-paths.js'),
      import('../nomad/client-settings.js'),
      import('../nomad/task-containers.js'),
      import('../nomad/ssh-port.js'),
      import('./ssh-options.js'),
    ]);
    const budget = splitKillTimeout(parseKillTimeout(flags.killTimeout));
    const task = readNomadTask(process.env);
    const path = resolvePayloadPath(flags.payload, task.taskDir);
    let assignment = parseAssignment(expandTaskPaths(await readDispatchPayload({ path }), task), path);
    // one Nomad job per parallel node, as CircleCI Server dispatches them: meta names the slice
    const slice = readNodeSlice(task);
    if (slice) assignment = { ...assignment, run: { ...assignment.run, nodeIndex: slice.index, nodeTotal: slice.total } };
    assignment = applyClientSettings(assignment, flags);
    // SSH listens on the job's dynamic port, and names the client's address by default
    assignment = withSshHost(withNomadSshPort(assignment, process.env));
    const described = describeNomadTask(task);
    log.log('info', 'nomad task', { ...described, jobName: assignment.spec.job.name, runId: assignment.run.id, nodeIndex: assignment.run.nodeIndex, nodeTotal: assignment.run.nodeTotal, killTimeoutMs: budget.totalMs });
    const where = [task.allocId && `allocation ${task.allocId}`, task.jobId && `job ${task.jobId}`, task.cpuLimit !== undefined && `${task.cpuLimit} MHz CPU`, task.memoryLimit !== undefined && `${task.memoryLimit} MB memory`].filter(Boolean);
    return await runJobCommand(assignment, {
      output: flags.output,
      color: false,
      logFormat: flags.logFormat,
      logFile: flags.logFile ?? (task.taskDir ? join(task.taskDir, 'deckhand-job.log') : defaultLogPath(assignment.spec.job.name)),
      env: process.env,
      ...(where.length > 0 ? { notes: [`Nomad: ${where.join(', ')}`] } : {}),
      killGraceMs: budget.stepGraceMs,
      // labelled by the allocation, so the task driver finds the job's containers
      ...(task.allocId && task.taskName ? { containerJobId: containerJobIdFor({ allocId: task.allocId, taskName: task.taskName }) } : {}),
      // what is left of the kill timeout, less the margin, from the moment the signal came
      deliverBy: () => Date.now() + budget.totalMs - budget.marginMs,
    });
  } catch (err) {
    log.log('error', errorMessage(err), { kind: errorKind(err) });
    return exitCodeFor(errorKind(err));
  }
}
