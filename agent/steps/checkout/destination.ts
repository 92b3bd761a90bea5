// What is already at the checkout directory in the container, and who the
// container's user is, found with one exec (busybox is enough).

import path from 'node:path';
import { captureScript, StepFailure, type ContainerUser } from '../container-script.js';
import type { StepContext } from '../step.js';

export type DestinationState = 'missing' | 'empty' | 'git' | 'not-empty' | 'not-a-directory';

export interface Destination {
  state: DestinationState;
  user: ContainerUser;
}

const INSPECT = [
  'd=$1',
  'if [ -e "$d/.git" ]; then echo git',
  'elif [ ! -e "$d" ] && [ ! -L "$d" ]; then echo missing',
  'elif [ ! -d "$d" ]; then echo not-a-directory',
  'elif [ -n "$(ls -A "$d")" ]; then echo not-empty',
  'else echo empty; fi',
  'id -u && id -g',
].join('\n');

const STATES: readonly DestinationState[] = ['missing', 'empty', 'git', 'not-empty', 'not-a-directory'];

export async function inspectDestination(ctx: Pick<StepContext, 'executor' | 'signal'>, directory: string): Promise<Destination> {
  const outcome = await captureScript(ctx, INSPECT, [directory]);
  const [state, uid, gid] = outcome.stdout.trim().split(/\s+/);
  const user = { uid: Number.parseInt(uid ?? '', 10), gid: Number.parseInt(gid ?? '', 10) };
  if (outcome.exitCode !== 0 || !STATES.includes(state as DestinationState) || !Number.isInteger(user.uid) || !Number.isInteger(user.gid)) {
    const said = (outcome.stderr.trim() || outcome.stdout.trim()).replace(/\s+/g, ' ');
    throw new StepFailure(`checkout: cannot inspect ${directory} in the primary container (${said || `exit ${outcome.exitCode}`}); the image needs /bin/sh, ls and id`);
  }
  return { state: state as DestinationState, user };
}

/** CircleCI refuses to check out over files that are not a git repository. */
export function refuseOccupied(directory: string, state: DestinationState): void {
  if (state === 'not-empty') {
    throw new StepFailure(
      `checkout: ${directory} is not empty and is not a git repository; empty it, or give the checkout step a \`path\` that is empty or a git checkout`,
    );
  }
  if (state === 'not-a-directory') {
    throw new StepFailure(`checkout: ${directory} exists and is not a directory; remove it, or give the checkout step another \`path\``);
  }
}

/** The checkout directory: the step's `path` against the working directory (`~` is the home). */
export function checkoutDirectory(stepPath: string | undefined, workingDirectory: string, home: string): string {
  if (stepPath === undefined || stepPath === '') return workingDirectory;
  const expanded = stepPath === '~' ? home : stepPath.startsWith('~/') ? path.posix.join(home, stepPath.slice(2)) : stepPath;
  return path.posix.resolve(workingDirectory, expanded);
}
