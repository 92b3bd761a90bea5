/** Shared bits of the benchmarks: timing, the repository root, the stand-in orb registry. */
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

