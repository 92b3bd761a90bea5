import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How both executors close an interactive command when the person goes: SIGHUP to its process
 * group, as a terminal's hang-up does, SIGKILL after the grace period, and — should a stray
 * process keep the output open after that — a last resort that stops waiting for it (destroying
 * the stream or closing the channel). Unlike an abort (abort-escalation.ts) each step waits for
 * the signal to be sent, and the caller waits for the end. Resolves once `exit` has settled.
 */
export async function hangUp(
  exit: Promise<unknown>,
  options: { signal(name: NodeJS.Signals): Promise<void>; killGraceMs: number; lastResort(): void; lastResortMs: number },
): Promise<void> {
  const ended = exit.then(
    () => true,
    () => true,
  );
  const within = (ms: number): Promise<boolean> => Promise.race([ended, sleep(ms, false, { ref: false })]);
  await options.signal('SIGHUP').catch(() => undefined);
  if (await within(options.killGraceMs)) return;
  await options.signal('SIGKILL').catch(() => undefined);
  if (await within(options.lastResortMs)) return;
  options.lastResort();
  await ended;
}
