/**
 * Approval jobs (`type: approval`): on CircleCI a person presses Approve in the UI. Locally the
 * run asks on the terminal, one question at a time, while other jobs keep running; without a
 * terminal `--approve all|none` answers every approval up front. An approved job ends `success`;
 * a refused one ends `not_run`, and with it every job that needs it to succeed.
 */
import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';

export type ApprovalPolicy = 'all' | 'none';

export interface Approver {
  /** true to approve; resolves false when the run is interrupted while asking */
  decide(job: string, signal: AbortSignal): Promise<boolean>;
}

/** Answers every approval the same way (`--approve all|none`). */
export function fixedApprover(policy: ApprovalPolicy): Approver {
  return { decide: async () => policy === 'all' };
}

/** Asks on a terminal; questions wait for each other, so answers never go to the wrong job. */
export function askingApprover(input: Readable, output: Writable): Approver {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    decide(job, signal) {
      const asked = queue.then(() => ask(job, input, output, signal));
      queue = asked.catch(() => undefined);
      return asked;
    },
  };
}

async function ask(job: string, input: Readable, output: Writable, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  const rl = createInterface({ input, output, terminal: false });
  try {
    // interrupted (AbortError) or the input ended (Ctrl-D): not approved
    const question = rl.question(`Approve job "${job}"? [y/N] `, { signal }).catch(() => '');
    const ended = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
    const answer = await Promise.race([question, ended]);
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}
