/**
 * Steps Deckhand does not run yet — `setup_remote_docker` (a remote Docker engine for the job):
 * they say so in one line and are skipped; they never fail the job.
 */
import type { Step } from '../jobspec/jobspec.js';
import type { StepHandler } from './step.js';

export const notYetSupported: StepHandler<Step> = async (step, ctx) => {
  ctx.output.write('agent', `${step.type} is not yet supported by deckhand; skipping this step\n`);
  return { status: 'skipped', message: `${step.type} not yet supported` };
};
