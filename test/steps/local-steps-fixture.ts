// Shared by the checkout and add_ssh_keys tests: a StepContext around a real
// executor whose output is collected, and a git repository made by real git.

import { execFile } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Executor } from '../../agent/executor/executor.js';
import type { JobInputs, StepContext } from '../../agent/steps/step.js';
import { stepOutput } from '../../agent/steps/step-output.js';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import type { JobStorage } from '../../agent/store/job-storage.js';

export interface CollectedOutput {
  agent: string;
  stdout: string;
  stderr: string;
}

export interface TestContext {
  ctx: StepContext;
  output: CollectedOutput;
}

export interface ContextOptions {
  workingDirectory?: string;
  home?: string;
  environment?: Record<string, string>;
  inputs?: Partial<JobInputs>;
  signal?: AbortSignal;
  /** default: a store under /nonexistent, for steps that store nothing */
  storage?: JobStorage;
}

export function testContext(executor: Executor, options: ContextOptions = {}): TestContext {
  const output: CollectedOutput = { agent: '', stdout: '', stderr: '' };
  const ctx: StepContext = {
    executor,
    environment: options.environment ?? {},
    workingDirectory: options.workingDirectory ?? '/tmp/project',
    home: options.home ?? '/root',
    shell: '/bin/sh -eo pipefail',
    output: stepOutput(
      {
        event(e) {
          if (e.type === 'output') output[e.stream] += e.data.toString('utf8');
        },
        close: () => Promise.resolve(),
      },
      0,
    ),
    signal: options.signal ?? new AbortController().signal,
    jobFailed: false,
    inputs: { source: { kind: 'local', path: process.cwd() }, sshKeysDir: '/nonexistent', ...options.inputs },
    // these steps hold nothing beyond the test's executor
    resources: { hold: () => undefined },
    storage: options.storage ?? { store: new FsBlobStore('/nonexistent/store'), project: 'test', workflowRunId: 'w', jobRunId: 'j', jobName: 'build', upstreamJobRunIds: [] },
  };
  return { ctx, output };
}

export function run(command: string, args: string[], cwd?: string, env?: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

// Fixed identity and dates make the commit id the same on every run.
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Deckhand Test',
  GIT_AUTHOR_EMAIL: 'test@deckhand.invalid',
  GIT_COMMITTER_NAME: 'Deckhand Test',
  GIT_COMMITTER_EMAIL: 'test@deckhand.invalid',
  GIT_AUTHOR_DATE: '2024-01-02T03:04:05Z',
  GIT_COMMITTER_DATE: '2024-01-02T03:04:05Z',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(repo: string, ...args: string[]): Promise<string> {
  return run('git', args, repo, GIT_ENV);
}

/**
 * A repository on branch `main` with one commit: README.md, an executable
 * bin/build.sh, a symlink, a nested file, a .gitignore; then, uncommitted, an
 * untracked file (must be copied) and ignored files (must not be).
 * Returns the commit id.
 */
export async function makeRepository(repo: string): Promise<string> {
  await mkdir(path.join(repo, 'bin'), { recursive: true });
  await mkdir(path.join(repo, 'src/deep'), { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  await writeFile(path.join(repo, 'README.md'), '# fixture\n');
  await writeFile(path.join(repo, 'bin/build.sh'), '#!/bin/sh\necho built\n');
  await chmod(path.join(repo, 'bin/build.sh'), 0o755);
  await symlink('README.md', path.join(repo, 'readme-link'));
  await writeFile(path.join(repo, 'src/deep/value.txt'), 'forty-two\n');
  await writeFile(path.join(repo, '.gitignore'), 'ignored.log\nbuild/\n');
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '-m', 'first');
  await writeFile(path.join(repo, 'untracked.txt'), 'not committed yet\n');
  await writeFile(path.join(repo, 'ignored.log'), 'noise\n');
  await mkdir(path.join(repo, 'build'));
  await writeFile(path.join(repo, 'build/output.bin'), 'artefact\n');
  return (await git(repo, 'rev-parse', 'HEAD')).trim();
}
