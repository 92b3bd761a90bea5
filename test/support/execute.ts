/**
 * Running the real `deckhand execute` in tests: a throwaway git repository holding a config, the
 * CLI run in it with its own DECKHAND_HOME, and the job's exit code, output and log file.
 */
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './repo-root.js';

export const deckhandBin = join(repoRoot(), 'bin', 'deckhand.js');
export { BUSYBOX, DEBIAN } from '../executor/docker/engine-fixture.js';

export interface Run {
  code: number | null;
  out: string;
  err: string;
  log: string;
}

/** A git repository holding `.circleci/config.yml` (and any extra files). */
export function project(config: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-exec-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), config);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'init');
  return dir;
}

export function execute(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const log = join(dir, 'job.log');
  // `--` as the deckhand launcher passes it: else Node would read an --env-file in args itself
  const r = spawnSync(process.execPath, ['--', deckhandBin, 'execute', '--log-file', log, '--no-color', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), ...env },
    timeout: 120_000,
  });
  let logText = '';
  try {
    logText = readFileSync(log, 'utf8');
  } catch {
    // no log (usage errors end before the job starts)
  }
  return { code: r.status, out: r.stdout, err: r.stderr, log: logText };
}

export function job(image: string, steps: string, extra = ''): string {
  return `version: 2.1\njobs:\n  build:\n    docker:\n      - image: ${image}\n${extra}    steps:\n${steps}\n`;
}


/**
 * `deckhand execute` in `dir`, asynchronously: `onOutput` sees stdout as it grows (to kill the
 * process, or close its stdout, at a chosen moment); resolves with the exit code or signal.
 */
export function executeAsync(
  dir: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; onOutput?: (out: string, child: ChildProcessWithoutNullStreams) => void } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string; pid: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [deckhandBin, 'execute', '--log-file', join(dir, 'job.log'), '--no-color', ...args], {
      cwd: dir,
      env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), ...options.env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      options.onOutput?.(out, child);
    });
    // a test that closes stdout must not end the test process on the error
    child.stdout.on('error', () => undefined);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => resolve({ code, signal, out, err, pid: child.pid ?? 0 }));
  });
}
