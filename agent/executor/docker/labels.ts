// Labels on everything the Docker executor creates, so that teardown and a
// later sweep (after a crash) can find it again without any local state.

import { formatOwner, thisAgent } from '../../owner.js';

/** The job a container or network belongs to. */
export const JOB_LABEL = 'com.deckhand.job';
/** One executor instance: a job id can be run more than once at a time. */
export const RUN_LABEL = 'com.deckhand.run';
/** The agent process that made it (`machine/boot/pid/start`, agent/owner.ts): what an agent
 *  that died left behind is found by it and reclaimed. VMs of the docker provider carry it too. */
export const OWNER_LABEL = 'com.deckhand.owner';
/** 'primary' or 'service'. */
export const ROLE_LABEL = 'com.deckhand.role';
/** CircleCI's image label: keep the image's ENTRYPOINT/CMD on the primary. */
export const PRESERVE_ENTRYPOINT_LABEL = 'com.circleci.preserve-entrypoint';

export function ownershipLabels(jobId: string, runId: string): Record<string, string> {
  return { [JOB_LABEL]: jobId, [RUN_LABEL]: runId, [OWNER_LABEL]: formatOwner(thisAgent()) };
}
