// Reading the runner's startup script from the primary's own output: the executor attaches to
// the container before starting it, and the idle command prints the script's output and then a
// STARTUP_END line with its exit code (see containers.ts). One attach replaces one exec.

import { PassThrough, type Readable } from 'node:stream';
import type { StartupOutcome } from '../executor.js';
import { STARTUP_END } from './containers.js';
import { demultiplex } from './demux.js';

/**
 * Collects the startup outcome from an attach stream. Resolves undefined when the stream ends
 * first (the container stopped): the caller then finds out why from the container's state.
 */
export function readStartupOutcome(attached: Readable, signal: AbortSignal): Promise<StartupOutcome | undefined> {
  const merged = new PassThrough();
  demultiplex(attached, merged, merged).then(
    () => merged.end(),
    () => merged.end(),
  );
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (outcome: StartupOutcome | undefined, error?: Error): void => {
      signal.removeEventListener('abort', onAbort);
      merged.removeAllListeners('data');
      // the attachment has served its purpose; the container keeps running
      attached.destroy();
      if (error) reject(error);
      else resolve(outcome);
    };
    const onAbort = (): void => finish(undefined, signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    merged.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const at = text.indexOf(`\n${STARTUP_END} `);
      if (at < 0) return;
      const rest = text.slice(at + STARTUP_END.length + 2);
      const eol = rest.indexOf('\n');
      if (eol < 0) return;
      finish({ exitCode: Number.parseInt(rest.slice(0, eol), 10), output: text.slice(0, at) });
    });
    merged.on('end', () => finish(undefined));
  });
}
