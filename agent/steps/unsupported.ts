/**
 * Steps whose storage side lands with caches, workspaces and artifacts (issue 5) and remote
 * Docker: they say so in one line and are skipped; they never fail the job.
 */
import type { Step } from '../jobspec/jobspec.js';
import type { StepHandler } from './step.js';

export const notYetSupported: StepHandler<Step> = async (step, ctx) => {
  ctx.output.write('agent', `${step.type} is not yet supported by deckhand execute; skipping this step\n`);
  return { status: 'skipped', message: `${step.type} not yet supported` };
};
