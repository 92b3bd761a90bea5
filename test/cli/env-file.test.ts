/**
 * `--env-file` is Deckhand's to read: the `deckhand` command (bin/deckhand.js run as a program)
 * never lets Node read it, so a NODE_OPTIONS line in it is a project variable like any other and
 * runs nothing in the agent; a missing file is Deckhand's one-line error. Started as
 * `node bin/deckhand.js`, where Node has read the file already, the CLI refuses to go on.
 * The job runs on the real Docker engine with the busybox test image.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { test } from 'node:test';
import { BUSYBOX, deckhandBin, job, project } from '../support/execute.js';

/** The environment of a run: its own DECKHAND_HOME, and this Node first on PATH for the launcher. */
function env(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, DECKHAND_HOME: join(dir, '.home'), PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
}

/** Runs bin/deckhand.js as a program, the way the installed `deckhand` command runs. */
function deckhand(dir: string, args: string[]) {
  return spawnSync(deckhandBin, args, { cwd: dir, encoding: 'utf8', env: env(dir), timeout: 120_000 });
}

/** A project whose job says whether NODE_OPTIONS reached it, and a script that leaves a marker if Node ever runs it. */
function hostileProject(): { dir: string; envFile: string; marker: string } {
  const dir = project(job(BUSYBOX, '      - run: |\n          case "$NODE_OPTIONS" in "--require /"*"/evil.cjs") echo project-variable-seen;; esac\n          echo "OTHER=$OTHER"'));
  const marker = join(dir, 'marker');
  writeFileSync(join(dir, 'evil.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
  const envFile = join(dir, 'project.env');
  writeFileSync(envFile, `NODE_OPTIONS=--require ${join(dir, 'evil.cjs')}\nOTHER=plain\n`);
  return { dir, envFile, marker };
}

test('a NODE_OPTIONS=--require line in --env-file runs nothing in the agent and reaches the job as a project variable, masked', () => {
  const { dir, envFile, marker } = hostileProject();
  const r = deckhand(dir, ['execute', '--no-color', '--skip-checkout', '--log-file', join(dir, 'job.log'), '--env-file', envFile]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(existsSync(marker), false, 'the --require file ran');
  assert.match(r.stdout, /^project-variable-seen$/m);
  assert.match(r.stdout, /^OTHER=\*+$/m, 'project variables are masked in output');
  assert.ok(!(r.stdout + r.stderr).includes(`--require ${join(dir, 'evil.cjs')}`), 'the value itself is never shown');
});

test('a missing --env-file is Deckhand\'s one-line error, exit 2, for execute and run', () => {
  const { dir } = hostileProject();
  const missing = join(dir, 'missing.env');
  for (const command of ['execute', 'run']) {
    const r = deckhand(dir, [command, '--env-file', missing]);
    assert.equal(r.status, 2, `${command}: ${r.stderr}`);
    assert.equal(r.stderr, `deckhand: --env-file ${missing} does not exist\n`);
  }
  const equals = deckhand(dir, ['execute', `--env-file=${missing}`]);
  assert.equal(equals.status, 2);
  assert.equal(equals.stderr, `deckhand: --env-file ${missing} does not exist\n`);
});

test('started as "node bin/deckhand.js", where Node has read --env-file itself, the CLI refuses in one line', () => {
  const { dir } = hostileProject();
  const harmless = join(dir, 'harmless.env');
  writeFileSync(harmless, 'OTHER=plain\n');
  const r = spawnSync(process.execPath, [deckhandBin, 'execute', '--print-assignment', '--env-file', harmless], { cwd: dir, encoding: 'utf8', env: env(dir) });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^deckhand: Node itself read the --env-file given to Deckhand .*; run the deckhand command, or node -- bin\/deckhand\.js …\n$/);
  // with `--` Node leaves it to Deckhand
  const ok = spawnSync(process.execPath, ['--', deckhandBin, 'execute', '--print-assignment', '--env-file', harmless], { cwd: dir, encoding: 'utf8', env: env(dir) });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /harmless\.env/);
});
