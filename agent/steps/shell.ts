/** Shell words, paths and durations as the steps need them. */

/** `/bin/bash -eo pipefail` → ['/bin/bash', '-eo', 'pipefail'] (simple quotes honoured). */
export function shellWords(shell: string): string[] {
  return shell.match(/"[^"]*"|'[^']*'|\S+/g)?.map((w) => (/^["'].*["']$/.test(w) ? w.slice(1, -1) : w)) ?? [];
}

/** `~` and `~/x` against the home directory; relative paths against `base`. */
export function resolvePath(path: string, home: string, base?: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return `${home}/${path.slice(2)}`;
  if (path.startsWith('/') || base === undefined) return path;
  if (path === '.' || path === '') return base;
  return `${base.replace(/\/$/, '')}/${path.replace(/^\.\//, '')}`;
}

/** Seconds as Go prints a time.Duration (`10m0s`, `1h30m0s`, `45s`), as in CircleCI's messages. */
export function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = +(seconds % 60).toFixed(3);
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
