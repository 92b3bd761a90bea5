/**
 * `deckhand agent run` of a one-step assignment (`run: "true"`, written by `deckhand execute
 * --print-assignment`) against the same floor as `deckhand execute`: the Docker engine's own
 * create, start, wait and remove of one container through the Engine API, measured in the same
 * run; and against `deckhand execute` of the same job. Targets: under floor + 200 ms, and no
 * slower than execute. The three are alternated so that each median sees the same swings of this
 * shared machine's load.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { middle, repo } from './support.js';

const IMAGE = 'deckhand-test/busybox:latest';
const bin = join(repo, 'bin', 'deckhand.js');
const docker = new Docker();
const RUNS = Number(process.env.BENCH_RUNS ?? 21);

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-agent-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n      - run: "true"\n`);
  return dir;
}

/** Wall time (ms) of one deckhand command in `dir`, stdout discarded. */
function timeDeckhand(dir: string, args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args, '--no-color', '--log-file', join(dir, 'job.log')], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
  });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`deckhand ${args.join(' ')} failed: ${r.stderr.toString().slice(-500)}`);
  return ms;
}

async function containerLifecycle(): Promise<number> {
  const t = process.hrtime.bigint();
  const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
  await c.start();
  await c.wait();
  await c.remove({ force: true });
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
  const dir = project();
  const printed = spawnSync(process.execPath, [bin, 'execute', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
  if (printed.status !== 0) throw new Error(`execute --print-assignment failed: ${printed.stderr}`);
  const assignment = join(dir, 'assignment.json');
  writeFileSync(assignment, printed.stdout);
  const agentArgs = ['agent', 'run', '--assignment', assignment];
  // warm-up: the engine's caches, and each subcommand's code cache (written by its first run)
  await containerLifecycle();
  timeDeckhand(dir, ['execute']);
  timeDeckhand(dir, agentArgs);
  const floor: number[] = [];
  const execute: number[] = [];
  const agent: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(await containerLifecycle());
    execute.push(timeDeckhand(dir, ['execute']));
    agent.push(timeDeckhand(dir, agentArgs));
  }
  const f = middle(floor);
  const e = middle(execute);
  const a = middle(agent);
  console.log(
    JSON.stringify({
      bench: 'agent-run-one-step',
      runs: RUNS,
      floorContainerMs: +f.toFixed(1),
      executeMs: +e.toFixed(1),
      agentRunMs: +a.toFixed(1),
      agentOverFloorMs: +(a - f).toFixed(1),
      executeOverFloorMs: +(e - f).toFixed(1),
      agentVsExecute: +(a / e).toFixed(3),
      loadAverage: loadavg().map((l) => +l.toFixed(2)),
      target: 'agent < floor + 200 ms, agent <= execute',
    }),
  );
}

await main();
