/**
 * Live latency of output streaming: how long a line takes from its write in the job's
 * container to a browser-like Server-Sent Events client on the processor's live tail.
 *
 * Each round:
 *  - floor: the writer script runs under `docker exec` in a busybox container and this process
 *    reads the lines straight from the exec's stdout (the least any reader of a container's
 *    output can see);
 *  - deckhand: the same script is the `run` step of a real `deckhand execute --output-processor`
 *    job; the processor is a child process (`deckhand output-processor`), and this process reads
 *    `GET /api/jobs/ID/live` (SSE) and notes when each line arrives.
 *
 * Clocks: a container shares the host's kernel, so CLOCK_REALTIME inside it is the host's. Busybox
 * `date` has no %N, but busybox `adjtimex` (a read-only query, allowed under Docker's default
 * seccomp profile) prints the kernel's time in microseconds; each line carries that stamp, taken
 * just before the line is echoed. Arrival is `performance.timeOrigin + performance.now()` here
 * (the same clock, in fractional milliseconds). The stamp is taken before the shell finishes the
 * command substitution and echoes, so both figures include ~1 ms of the writer's own work; the
 * ratio is fair since floor and deckhand run the same script.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ProcessorProcess } from '../test/support/processor-process.js';
import { middle, repo } from './support.js';

const IMAGE = 'deckhand-test/busybox:latest';
const bin = join(repo, 'bin', 'deckhand.js');
const LINES = Number(process.env.LATENCY_LINES ?? 200);
const ROUNDS = Number(process.env.LATENCY_ROUNDS ?? 3);
const MARK = 'latency-line';
/** the p99 target (docs/benchmarks.md, "Output streaming"), in milliseconds */
const TARGET_P99_MS = 100;

/**
 * Waits 2 s (so the SSE client is connected before the first line), then writes LINES lines,
 * 20-50 ms apart (a fixed pseudo-random spread), each `latency-line I MICROSECONDS`.
 */
const WRITER = [
  'sleep 2',
  'i=0',
  `while [ $i -lt ${LINES} ]; do`,
  `  echo "${MARK} $i $(adjtimex | awk '/tv_sec/ {s=$2} /tv_usec/ {u=$2} END {printf "%d%06d", s, u}')"`,
  '  i=$((i + 1))',
  '  usleep $((20000 + (i * 7919) % 30001))',
  'done',
].join('\n');

const nowUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

/** Collects latencies (ms) of the writer's lines from text as it arrives, split anywhere. */
class LineClock {
  readonly latencies = new Map<number, number>();
  private carry = '';

  take(text: string): void {
    const arrived = nowUs();
    const lines = (this.carry + text).split('\n');
    this.carry = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^latency-line (\d+) (\d+)\r?$/.exec(line);
      if (m && !this.latencies.has(Number(m[1]))) this.latencies.set(Number(m[1]), (arrived - Number(m[2])) / 1000);
    }
  }

  check(what: string): number[] {
    if (this.latencies.size !== LINES) throw new Error(`${what}: ${this.latencies.size} of ${LINES} lines arrived`);
    return [...this.latencies.values()];
  }
}

/** The floor: the lines read straight from `docker exec`'s stdout. */
async function floorRound(container: Docker.Container): Promise<number[]> {
  const clock = new LineClock();
  const child = spawn('docker', ['exec', container.id, 'sh', '-c', WRITER], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8').on('data', (d: string) => clock.take(d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`docker exec exited ${code}`);
  return clock.check('floor');
}

/** One `deckhand execute --output-processor` job, its lines read from the processor's SSE live tail. */
async function deckhandRound(processor: ProcessorProcess, round: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-latency-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n      - run: ${JSON.stringify(WRITER)}\n`);
  const jobId = `bench-latency-${Date.now()}-${round}`;
  const job = spawn(
    process.execPath,
    [bin, 'execute', '--no-color', '--log-file', join(dir, 'job.log'), '--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId)],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } },
  );
  let jobOut = '';
  job.stdout.on('data', (d: Buffer) => (jobOut += d.toString()));
  job.stderr.on('data', (d: Buffer) => (jobOut += d.toString()));
  const exited = new Promise<number | null>((resolve) => job.on('exit', resolve));

  const clock = new LineClock();
  const ac = new AbortController();
  try {
    // the job appears at the processor when the agent opens its stream: poll until it does
    let res: Response | undefined;
    for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
      res = await fetch(`${processor.http}/api/jobs/${jobId}/live`, { signal: ac.signal });
      if (res.status === 200) break;
      await res.body?.cancel();
      if (job.exitCode !== null) break;
    }
    if (res?.status !== 200) throw new Error(`the live tail of ${jobId} never opened (HTTP ${res?.status}); job output: ${jobOut.slice(-1500)}`);
    const decoder = new TextDecoder();
    const stdout = new TextDecoder();
    let buf = '';
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(part, { stream: true });
      let at: number;
      let ended = false;
      while ((at = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === 'end') ended = true;
        if (event !== 'output' || !data) continue;
        const ev = JSON.parse(data) as { stream: string; data: string };
        if (ev.stream === 'stdout') clock.take(stdout.decode(Buffer.from(ev.data, 'base64'), { stream: true }));
      }
      if (ended) break;
    }
  } finally {
    ac.abort();
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) throw new Error(`deckhand execute exited ${code}: ${jobOut.slice(-1500)}`);
  }
  if (!/delivered and verified/.test(jobOut)) throw new Error(`output not delivered and verified: ${jobOut.slice(-1500)}`);
  return clock.check('deckhand');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(latencies: number[]): { p50: number; p99: number; max: number } {
  const s = [...latencies].sort((a, b) => a - b);
  const r = (x: number): number => +x.toFixed(1);
  return { p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s[s.length - 1]) };
}

async function main(): Promise<void> {
  if (spawnSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`${IMAGE} is missing: run scripts/build-test-images.sh`);
  }
  const docker = new Docker();
  const load = loadavg().map((x) => +x.toFixed(2));
  const processor = await ProcessorProcess.start();
  const container = await docker.createContainer({ Image: IMAGE, Cmd: ['sh', '-c', 'while :; do sleep 3600; done'], Labels: { 'com.deckhand.bench': 'output-latency' } });
  await container.start();
  const floor: number[][] = [];
  const deckhand: number[][] = [];
  try {
    // alternate, so a noisy moment on this shared machine hits both
    for (let round = 0; round < ROUNDS; round++) {
      floor.push(await floorRound(container));
      deckhand.push(await deckhandRound(processor, round));
      console.error(`round ${round + 1}/${ROUNDS}: floor ${JSON.stringify(summary(floor[round]))} deckhand ${JSON.stringify(summary(deckhand[round]))}`);
    }
  } finally {
    await container.remove({ force: true });
    await processor.stop();
  }
  const all = summary(deckhand.flat());
  const base = summary(floor.flat());
  const perRound = deckhand.map(summary);
  console.log(
    JSON.stringify({
      bench: 'output-live-latency',
      lines: LINES,
      rounds: ROUNDS,
      loadAverage: load,
      floorDockerExecMs: base,
      deckhandSseMs: all,
      // each round's p99, then their median: one slow moment shows without deciding the figure
      deckhandRoundP99Ms: perRound.map((r) => r.p99),
      medianRoundP99Ms: middle(perRound.map((r) => r.p99)),
      p50Ratio: +(all.p50 / base.p50).toFixed(1),
      p99Ratio: +(all.p99 / base.p99).toFixed(1),
      target: `p99 < ${TARGET_P99_MS} ms`,
      met: all.p99 < TARGET_P99_MS,
    }),
  );
}

await main();
