/**
 * `deckhand run` scheduling overhead: a 5-job fan-out/fan-in workflow (a → b, c, d → e, each one
 * `run: "true"` step in busybox) against the floor measured in the same run — the sum of the same
 * five jobs run alone, one `deckhand execute` each.
 *  (a) one job at a time (`--max-parallel 1`): wall time vs the sum — target at most 1.0x (one
 *      process compiles the config once and schedules the jobs; nothing should cost more);
 *  (b) up to 3 jobs at once (`--max-parallel 3`): the same against the sum, to show what running
 *      b, c and d side by side gives on this machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, repo } from './support.js';

const IMAGE = 'deckhand-test/busybox:latest';
const bin = join(repo, 'bin', 'deckhand.js');
const JOBS = ['a', 'b', 'c', 'd', 'e'];

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-wf-'));
  mkdirSync(join(dir, '.circleci'));
  const jobs = JOBS.map((j) => `  ${j}:\n    docker: [{image: ${IMAGE}}]\n    resource_class: small\n    steps: [{run: "true"}]\n`).join('');
  const wf = '  main:\n    jobs:\n      - a\n      - b: {requires: [a]}\n      - c: {requires: [a]}\n      - d: {requires: [a]}\n      - e: {requires: [b, c, d]}\n';
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n${jobs}workflows:\n${wf}`);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('-c', 'user.name=b', '-c', 'user.email=b@example.com', 'commit', '-qm', 'bench');
  return dir;
}

/** Wall time (ms) of one deckhand command in `dir`, output discarded. */
function time(dir: string, args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args, '--no-color'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`deckhand ${args.join(' ')} failed: ${r.stderr.toString().slice(-500)}`);
  return ms;
}

async function main(): Promise<void> {
  const dir = project();
  const logs = join(dir, 'logs');
  const sumAlone = await median(3, () => JOBS.reduce((sum, j) => sum + time(dir, ['execute', '--job', j, '--log-file', join(logs, `alone-${j}.log`)]), 0), 1);
  const serial = await median(3, () => time(dir, ['run', '--max-parallel', '1', '--log-dir', logs]), 1);
  const parallel = await median(3, () => time(dir, ['run', '--max-parallel', '3', '--log-dir', logs]), 1);
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ bench: 'workflow-5-jobs-serial', sumOfJobsAloneMs: +sumAlone.toFixed(1), runMs: +serial.toFixed(1), overheadMs: +(serial - sumAlone).toFixed(1), ratio: +(serial / sumAlone).toFixed(2), target: '<= 1.0x' }));
  console.log(JSON.stringify({ bench: 'workflow-5-jobs-3-at-once', sumOfJobsAloneMs: +sumAlone.toFixed(1), runMs: +parallel.toFixed(1), ratio: +(parallel / sumAlone).toFixed(2) }));
}

await main();
