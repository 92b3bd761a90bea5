/**
 * Go's `path/filepath.Glob` over any tree that can list a folder (the job's container, through
 * the executor): a pattern without metacharacters names one path if it exists; otherwise the
 * folder part is globbed first and each folder's sorted names are matched with goMatch. As in
 * Go, a malformed pattern is an error and unreadable folders are skipped.
 */
import { posix } from 'node:path';
import { BadPatternError, goMatch, hasMeta } from './go-match.js';

export interface GlobTree {
  exists(path: string): Promise<boolean>;
  /** the names in a folder (without `.` and `..`), or undefined when it is not a folder */
  list(dir: string): Promise<string[] | undefined>;
}

/** Absolute paths matching the absolute `pattern`, in Go's order. */
export async function goGlob(pattern: string, tree: GlobTree): Promise<string[]> {
  // Go checks the whole pattern first
  goMatch(pattern, '');
  if (!hasMeta(pattern)) return (await tree.exists(pattern)) ? [pattern] : [];
  const slash = pattern.lastIndexOf('/');
  const dir = cleanDir(pattern.slice(0, slash + 1));
  const file = pattern.slice(slash + 1);
  if (!hasMeta(dir)) return globIn(dir, file, tree);
  // a pattern like /a/*/*: nothing but / before it is a folder of its own
  if (dir === pattern) throw new BadPatternError(pattern);
  const out: string[] = [];
  for (const d of await goGlob(dir, tree)) out.push(...(await globIn(d, file, tree)));
  return out;
}

async function globIn(dir: string, pattern: string, tree: GlobTree): Promise<string[]> {
  const names = await tree.list(dir);
  if (!names) return [];
  return names
    .sort()
    .filter((n) => goMatch(pattern, n))
    .map((n) => posix.join(dir, n));
}

/** Go's cleanGlobPath: `/` stays, a trailing `/` goes. */
function cleanDir(dir: string): string {
  if (dir === '' || dir === '/') return dir === '' ? '.' : '/';
  return dir.slice(0, -1);
}
