/**
 * Reclaiming what dead agents left on the engine, for the commands that start jobs (in the
 * background, while their own job starts) and for `deckhand clean` (docs/execute.md).
 */
import type { Logger } from '../daemon-log.js';
import { errorMessage } from '../errors.js';

/** Starts reclaiming; the promise settles when it is done, and never rejects (an engine that is not there has nothing to reclaim). */
export function reclaimInBackground(log: Logger): Promise<void> {
  return (async () => {
    const [{ connectDocker }, { reclaimOrphans }] = await Promise.all([import('../executor/docker/engine.js'), import('../executor/docker/reclaim.js')]);
    await reclaimOrphans(connectDocker(), { said: (line) => log.log('warn', line) });
  })().catch((err: unknown) => log.log('debug', `reclaiming left containers: ${errorMessage(err)}`));
}

/** `deckhand clean [--dry-run]`: exit 0, one line per thing reclaimed (or that would be). */
export async function cleanCommand(flags: { dryRun?: boolean }): Promise<number> {
  const [{ connectDocker, unreachableMessage, isUnreachable }, { reclaimOrphans }] = await Promise.all([import('../executor/docker/engine.js'), import('../executor/docker/reclaim.js')]);
  try {
    const found = await reclaimOrphans(connectDocker(), { dryRun: flags.dryRun === true, said: (line) => process.stdout.write(`${line}\n`) });
    if (found.length === 0) process.stdout.write('nothing to reclaim: every container and network Deckhand made belongs to a running agent\n');
    return 0;
  } catch (err) {
    if (isUnreachable(err)) {
      process.stderr.write(`deckhand: ${unreachableMessage(err)}\n`);
      return 2;
    }
    throw err;
  }
}
