/** Go-style durations as Nomad writes them (`25s`, `1h`, `1m30s`), to and from milliseconds. */
import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds (unrounded) of a Go-style duration with its units (`1m30s`, `1.5s`), or undefined when it is not one. */
export function goDurationMs(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

export function parseDuration(text: string, name: string): number {
  const value = text.trim();
  if (value === '0') return 0;
  const ms = goDurationMs(value);
  if (ms === undefined) throw new UsageError(`${name} ${JSON.stringify(text)} is not a duration: write it as Nomad does, e.g. 30s, 1m30s, 1h`);
  return Math.round(ms);
}

/** The shortest Go-style spelling: 25000 → 25s, 90000 → 1m30s, 3600000 → 1h. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
