/**
 * `deckhand agent run --assignment FILE|-`: runs one JobAssignment, as any front end made it
 * (`deckhand execute --print-assignment`, a dispatcher, the control API), with the same output
 * as `deckhand execute`.
 */
import { readFileSync } from 'node:fs';
import { parseAssignmentText } from '../assignment/validate.js';
import { UsageError } from '../errors.js';
import { defaultLogPath } from '../output/log-file.js';
import { runJobCommand } from './run-job.js';

export interface AgentRunFlags {
  assignment: string;
  output: 'text' | 'json';
  logFormat: 'text' | 'json';
  logFile?: string;
}

export async function agentRunCommand(flags: AgentRunFlags, color: boolean): Promise<number> {
  const assignment = parseAssignmentText(readAssignment(flags.assignment), flags.assignment === '-' ? 'from standard input' : flags.assignment);
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
