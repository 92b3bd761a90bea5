/**
 * `deckhand execute` against the Docker engine's own floor, measured in the same run:
 *  (a) a one-step job `run: "true"`: total wall time vs create+start+wait+remove of one container
 *      through the Engine API — target: under floor + 250 ms;
 *  (b) 50 trivial steps: time per step vs one exec create/start/inspect — target under 1.25x;
 *  (c) a step writing 200 MB to stdout: throughput to the log file vs `docker exec … > /dev/null`
 *      — target at least 70% of the floor; the agent's peak RSS — target under 200 MB.
 * `BENCH_ONLY=a` (or `b`, `c`, `a,b`) runs only those; (b) and (c) reuse (a)'s one-step time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { median, middle, repo } from './support.js';

const IMAGE = 'deckhand-test/busybox:latest';
const bin = join(repo, 'bin', 'deckhand.js');
const docker = new Docker();

function project(steps: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-exec-'));
  mkdirSync(join(dir, '.circleci'));
  const body = steps.map((s) => `      - run: ${JSON.stringify(s)}`).join('\n');
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n${body}\n`);
  return dir;
}

/** Wall time (ms) and peak RSS (KB) of one `deckhand execute` in `dir`, stdout discarded. */
function timeExecute(dir: string): { ms: number; rssKb: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, 'execute', '--no-color', '--log-file', join(dir, 'job.log')], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
    maxBuffer: 1 << 20,
  });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`deckhand execute failed: ${r.stderr.toString().slice(-500)}`);
  const rssKb = Number(/(\d+)\s*$/.exec(r.stderr.toString().trim())?.[1] ?? 0);
  return { ms, rssKb };
}

async function containerLifecycle(): Promise<void> {
  const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
  await c.start();
  await c.wait();
  await c.remove({ force: true });
}

const only = new Set((process.env.BENCH_ONLY ?? 'a,b,c').split(',').map((s) => s.trim()));

async function main(): Promise<void> {
  // (a) one step (also the fixed cost of a job that (b) and (c) subtract)
  // alternated, so that both medians see the same swings of this shared machine's load
  const oneDir = project(['true']);
  await containerLifecycle();
  timeExecute(oneDir);
  const floorTimes: number[] = [];
  const executeTimes: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = process.hrtime.bigint();
    await containerLifecycle();
    floorTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
    executeTimes.push(timeExecute(oneDir).ms);
  }
  const floorA = middle(floorTimes);
  const oneStep = middle(executeTimes);
  // for reading (a): what starting any Node process costs here (NODE_EXTRA_CA_CERTS, if set, adds to it)
  const nodeStart = await median(5, () => {
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  console.log(JSON.stringify({ bench: 'execute-one-step', floorContainerMs: +floorA.toFixed(1), executeMs: +oneStep.toFixed(1), overFloorMs: +(oneStep - floorA).toFixed(1), nodeStartMs: +nodeStart.toFixed(1), loadAverage: loadavg().map((l) => +l.toFixed(2)), target: '< floor + 250 ms' }));
  if (!only.has('b') && !only.has('c')) return;

  // a long-running container for the exec and streaming floors of (b) and (c)
  const keep = await docker.createContainer({ Image: IMAGE, Cmd: ['sh', '-c', 'while :; do sleep 3600; done'] });
  await keep.start();
  try {
    if (only.has('b')) await perStepBench(oneStep, keep);
    if (only.has('c')) await streamingBench(oneStep, keep);
  } finally {
    await keep.remove({ force: true });
  }
}

/** (b) 50 steps: per-step cost from the difference with the one-step job */
async function perStepBench(oneStep: number, keep: Docker.Container): Promise<void> {
  const fiftyDir = project(Array.from({ length: 50 }, () => 'true'));
  const fifty = await median(3, () => timeExecute(fiftyDir).ms, 1);
  const perStep = (fifty - oneStep) / 49;
  const floorB = await median(30, async () => {
    const e = await keep.exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
    const stream = await e.start({});
    await new Promise((resolve) => stream.on('end', resolve).resume());
    await e.inspect();
  });
  console.log(JSON.stringify({ bench: 'execute-per-step', floorExecMs: +floorB.toFixed(1), perStepMs: +perStep.toFixed(1), ratio: +(perStep / floorB).toFixed(2), loadAverage: loadavg().map((l) => +l.toFixed(2)), target: '< 1.25x' }));
}

async function streamingBench(oneStep: number, keep: Docker.Container): Promise<void> {
  // (c) 200 MB of log lines
  const bytes = 200_000_000;
  const writer = `yes 'a line of build output, the kind a compiler or test runner prints all day' | head -c ${bytes}`;
  const t = process.hrtime.bigint();
  execFileSync('sh', ['-c', `docker exec ${keep.id} sh -c "${writer}" > /dev/null`]);
  const floorC = Number(process.hrtime.bigint() - t) / 1e6;
  // `yes` ends on SIGPIPE when head has enough, which pipefail would count as a failure
  const bigDir = project([`set +o pipefail; ${writer}`]);
  const big = timeExecute(bigDir);
  const logBytes = statSync(join(bigDir, 'job.log')).size;

  console.log(JSON.stringify({
    bench: 'execute-200MB',
    floorMBps: +(bytes / 1e6 / (floorC / 1000)).toFixed(1),
    executeMBps: +(bytes / 1e6 / (big.ms / 1000)).toFixed(1),
    ratio: +(floorC / big.ms).toFixed(2),
    // the same without the fixed cost of a job (spin-up, teardown) measured in (a)
    streamingMBps: +(bytes / 1e6 / ((big.ms - oneStep) / 1000)).toFixed(1),
    streamingRatio: +(floorC / (big.ms - oneStep)).toFixed(2),
    logBytes,
    peakRssMB: +(big.rssKb / 1024).toFixed(1),
    target: '>= 0.70 of floor, RSS < 200 MB',
  }));
}

await main();
