/**
 * Ctrl-C and SIGTERM for commands that run jobs: the first signal cancels (steps stop, output is
 * delivered, containers are removed, logs flushed); a second one removes the jobs' containers at
 * once through their executors, without waiting for steps that ignore SIGTERM, and exits with the
 * signal's code.
 */
import { EXIT_CANCELED_SIGINT, EXIT_CANCELED_SIGTERM } from '../errors.js';

export type CancelSignal = 'SIGINT' | 'SIGTERM';

export interface InterruptHandlers {
  /** what is being stopped, for the message: "the job", "every job" */
  what: string;
  cancel(signal: CancelSignal): void;
  forceCleanup(): Promise<void>;
  /** where the messages go (stderr) */
  say(line: string): void;
}

/** Starts watching; returns the function that stops watching. */
export function watchInterrupts(handlers: InterruptHandlers): () => void {
  let signals = 0;
  const onSignal = (name: CancelSignal): void => {
    signals++;
    if (signals === 1) {
      handlers.say(`${name}: stopping ${handlers.what} and cleaning up (again to force)`);
      handlers.cancel(name);
      return;
    }
    handlers.say(`forcing: removing the containers of ${handlers.what} now`);
    void handlers
      .forceCleanup()
      .catch(() => undefined)
      .finally(() => process.exit(name === 'SIGTERM' ? EXIT_CANCELED_SIGTERM : EXIT_CANCELED_SIGINT));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
