// Which files of the local repository `checkout` copies: in a git work tree,
// what git itself would consider part of it (tracked files, plus untracked
// files that are not ignored) and the whole `.git`; otherwise every file.

import { execFile } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { StepFailure } from '../container-script.js';

export interface LocalTree {
  /** absolute folder whose contents land in the checkout directory */
  root: string;
  kind: 'git' | 'plain';
  /** paths relative to root with `/` separators; a trailing `/` marks a directory to copy empty */
  paths: string[];
  /** things the user should know (one line each) */
  notes: string[];
}

/** Lists what to copy from `repository` (the folder the user runs deckhand in). */
export async function localTree(repository: string): Promise<LocalTree> {
  const folder = path.resolve(repository);
  const info = await lstat(folder).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new StepFailure(`checkout: the local repository ${folder} is not a directory; run deckhand inside your project or point it at the project folder`);
  }

  const toplevel = await gitToplevel(folder);
  if (toplevel === 'no-git') {
    if (await exists(path.join(folder, '.git'))) {
      throw new StepFailure(`checkout: ${folder} is a git repository but git is not installed on this machine; install git so that ignored files are left out`);
    }
    return { root: folder, kind: 'plain', paths: await walk(folder, ''), notes: [`${folder} is not a git repository: copying the whole folder`] };
  }
  if (toplevel === undefined) {
    return { root: folder, kind: 'plain', paths: await walk(folder, ''), notes: [`${folder} is not a git repository: copying the whole folder`] };
  }

  const notes: string[] = [];
  if (path.resolve(toplevel) !== folder) notes.push(`${folder} is inside the git repository ${toplevel}: copying the whole repository`);
  const listed = await git(toplevel, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  // Conflicted files appear once per stage; a Set keeps the first.
  const workTree = [...new Set(listed.split('\0').filter((name) => name !== ''))];

  const dotGit = path.join(toplevel, '.git');
  const dotGitInfo = await lstat(dotGit);
  let gitPaths: string[];
  if (dotGitInfo.isDirectory()) {
    gitPaths = ['.git/', ...(await walk(dotGit, '.git/'))];
  } else {
    // A worktree or submodule: `.git` is a file naming a git directory on this machine.
    gitPaths = ['.git'];
    notes.push(`${dotGit} is a file (a git worktree or submodule), not a directory: git commands in the job will not find the repository`);
  }
  return { root: toplevel, kind: 'git', paths: [...workTree, ...gitPaths], notes };
}

/** The work tree's top folder; undefined when not in a work tree; 'no-git' when git cannot run. */
async function gitToplevel(folder: string): Promise<string | undefined | 'no-git'> {
  try {
    return (await git(folder, ['rev-parse', '--show-toplevel'])).trim();
  } catch (error) {
    if (isErrno(error) && error.code === 'ENOENT') return 'no-git';
    return undefined;
  }
}

function git(cwd: string, args: string[]): Promise<string> {
  // safe.directory: the repository may belong to another user (a mounted
  // folder, sudo); listing its files is harmless and must not fall back to
  // copying ignored files.
  const argv = ['-c', 'safe.directory=*', '-c', 'core.quotepath=off', ...args];
  return new Promise((resolve, reject) => {
    execFile('git', argv, { cwd, maxBuffer: 1 << 30, encoding: 'utf8' }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

/** Every entry under `dir`, depth first, directories (with a trailing `/`) before their contents. */
async function walk(dir: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const relative = `${prefix}${entry.name}`;
    if (entry.isDirectory()) {
      found.push(`${relative}/`);
      found.push(...(await walk(path.join(dir, entry.name), `${relative}/`)));
    } else {
      found.push(relative);
    }
  }
  return found;
}

async function exists(file: string): Promise<boolean> {
  return (await lstat(file).catch(() => undefined)) !== undefined;
}

function isErrno(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}
