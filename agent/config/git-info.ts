/**
 * Branch and revision of a local repository, read from `.git` directly (no `git` process), so
 * that compiling a config stays fast. Missing or unusual repositories just yield nothing.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface GitInfo {
  branch?: string;
  revision?: string;
  /** URL of the `origin` remote */
  remoteUrl?: string;
}

export function findGitDir(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, '.git');
    try {
      const st = statSync(candidate);
      if (st.isDirectory()) return candidate;
      // a worktree or submodule: `.git` is a file `gitdir: <path>`
      const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(candidate, 'utf8'));
      if (m) return resolve(dir, m[1].trim());
    } catch {
      // not here; look further up
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function readGitInfo(start: string): GitInfo {
  const gitDir = findGitDir(start);
  if (!gitDir) return {};
  try {
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    const remoteUrl = readOriginUrl(gitDir);
    if (!ref) return { revision: head, remoteUrl };
    const branch = ref.replace(/^refs\/heads\//, '');
    return { branch, revision: readRef(gitDir, ref), remoteUrl };
  } catch {
    return {};
  }
}

function readRef(gitDir: string, ref: string): string | undefined {
  try {
    return readFileSync(join(gitDir, ref), 'utf8').trim();
  } catch {
    try {
      const packed = readFileSync(join(gitDir, 'packed-refs'), 'utf8');
      return packed.split('\n').find((l) => l.endsWith(` ${ref}`))?.split(' ')[0];
    } catch {
      return undefined;
    }
  }
}

function readOriginUrl(gitDir: string): string | undefined {
  try {
    const config = readFileSync(join(gitDir, 'config'), 'utf8');
    const section = /\[remote "origin"\]([^[]*)/.exec(config)?.[1];
    return section ? /^\s*url\s*=\s*(.+)$/m.exec(section)?.[1].trim() : undefined;
  } catch {
    return undefined;
  }
}
