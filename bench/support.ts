/** Shared bits of the benchmarks: timing, the repository root, the stand-in orb registry, execute timed to a line. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
export { standInRegistry } from '../test/support/stand-ins.js';

/** Median wall time in milliseconds of `runs` calls of fn (after `warmup` unmeasured calls). */
export async function median(runs: number, fn: () => unknown | Promise<unknown>, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return middle(times);
}

/** The middle value of `values` (the upper one of the two for an even count). */
export function middle(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

export const repo = new URL('..', new URL('..', import.meta.url)).pathname;


/**
 * `deckhand execute ARGS` in `dir`: ms from the spawn until its stdout so far matches `seen`
 * (checked on each chunk). The run must exit 0 and the output must match.
 */
export async function executeUntil(dir: string, args: string[], seen: (out: string) => boolean): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(repo, 'bin', 'deckhand.js'), 'execute', '--no-color', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
  let at = -1;
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    if (at < 0 && seen(out)) at = performance.now() - t0;
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0 || at < 0) throw new Error(`deckhand execute ${args.join(' ')} exited ${code}; what was waited for ${at >= 0 ? 'was' : 'was not'} seen`);
  return at;
}
