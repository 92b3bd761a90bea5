/**
 * Output streaming against floors measured in the same run:
 *  (1) one stream end to end — a step in Docker writes 200 MB, `deckhand execute
 *      --output-processor` streams it, the processor (a child process) stores it on disk — vs
 *      the same bytes through `docker exec … > /dev/null`; target at least 0.50 of the floor.
 *      Also: the same job without streaming, so the cost of streaming itself shows. Rounds
 *      alternate floor, plain and streamed runs; the ratio is the median of the rounds' ratios
 *      (this 2-CPU machine is shared, so the load swings between rounds). The
 *      agent's stdout goes to a file, as bench/execute.ts sends it to /dev/null: a pipe's write
 *      queue in the agent would grow with however slowly this process read it, and the agent's
 *      peak RSS is compared with that benchmark's target (< 200 MB).
 *  (2) 100 concurrent job streams into one processor: 100 instances of the agent's
 *      GrpcOutputSink in this one process, fed synthetic job events (not 100 Docker jobs: the
 *      machine has 2 CPUs), each stream checked byte-identical over the processor's HTTP API;
 *      the processor's peak RSS sampled from /proc.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { GrpcOutputSink } from '../agent/output/stream/grpc-sink.js';
import { ProcessorProcess } from '../test/support/processor-process.js';
import { watchPeakMemory } from '../test/support/peak-memory.js';
import { middle, repo } from './support.js';

const IMAGE = 'deckhand-test/busybox:latest';
const bin = join(repo, 'bin', 'deckhand.js');
const BYTES = 200_000_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WRITER = `yes 'a line of build output, the kind a compiler or test runner prints all day' | head -c ${BYTES}`;

function project(command: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-stream-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n      - run: ${JSON.stringify(command)}\n`);
  return dir;
}

/** Wall time (ms), the agent's peak RSS (KB) and the end of stdout of one `deckhand execute`. */
function timeExecute(dir: string, extra: string[]): { ms: number; rssKb: number; out: string } {
  const outFile = join(dir, 'stdout.txt');
  const stdout = openSync(outFile, 'w');
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, 'execute', '--no-color', '--log-file', join(dir, 'job.log'), ...extra], {
    cwd: dir,
    stdio: ['ignore', stdout, 'pipe'],
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
  });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  closeSync(stdout);
  if (r.status !== 0) throw new Error(`deckhand execute failed: ${r.stderr.toString().slice(-800)}`);
  const rssKb = Number(/(\d+)\s*$/.exec(r.stderr.toString().trim())?.[1] ?? 0);
  const text = readFileSync(outFile);
  return { ms, rssKb, out: text.subarray(Math.max(0, text.length - 2000)).toString('latin1') };
}

async function oneStream(processor: ProcessorProcess): Promise<void> {
  const loadAtStart = loadavg().map((l) => +l.toFixed(2));
  const docker = new Docker();
  const keep = await docker.createContainer({ Image: IMAGE, Cmd: ['sh', '-c', 'while :; do sleep 3600; done'], Labels: { 'com.deckhand.bench': 'output-throughput' } });
  await keep.start();
  // `yes` ends on SIGPIPE when head has enough, which pipefail would count as a failure
  const dir = project(`set +o pipefail; ${WRITER}`);
  const trivial = project('true');
  const fixed = timeExecute(trivial, []).ms;
  const floors: number[] = [];
  const plains: { ms: number; rssKb: number }[] = [];
  const streams: { ms: number; rssKb: number }[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const t = process.hrtime.bigint();
      execFileSync('sh', ['-c', `docker exec ${keep.id} sh -c "${WRITER}" > /dev/null`]);
      floors.push(Number(process.hrtime.bigint() - t) / 1e6);
      plains.push(timeExecute(dir, []));
      const jobId = `bench-one-${Date.now()}`;
      const streamed = timeExecute(dir, ['--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId)]);
      if (!/delivered and verified/.test(streamed.out)) throw new Error(`not delivered: ${streamed.out}`);
      // spawnSync held the event loop for seconds: let fetch see that the processor closed the
      // idle keep-alive connection, or it reuses the dead socket ("other side closed")
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stored = await processor.output(jobId, 0);
      if (stored.length !== BYTES) throw new Error(`stored ${stored.length} bytes, the step wrote ${BYTES}`);
      streams.push(streamed);
    }
  } finally {
    await keep.remove({ force: true });
    // each run's log file and stdout hold the whole 200 MB
    for (const d of [dir, trivial]) rmSync(d, { recursive: true, force: true });
  }
  const floorMs = middle(floors);
  const streamedMs = middle(streams.map((s) => s.ms));
  const plainMs = middle(plains.map((p) => p.ms));
  const mbps = (ms: number) => +(BYTES / 1e6 / (ms / 1000)).toFixed(1);
  const mb = (kb: number) => +(kb / 1024).toFixed(1);
  console.log(
    JSON.stringify({
      bench: 'output-one-stream-200MB',
      rounds: ROUNDS,
      floorDockerExecMBps: mbps(floorMs),
      streamedMBps: mbps(streamedMs),
      // each round's floor and streamed run are neighbours in time: the median of their ratios
      ratio: +middle(floors.map((f, i) => f / streams[i].ms)).toFixed(2),
      roundRatios: floors.map((f, i) => +(f / streams[i].ms).toFixed(2)),
      // without the fixed cost of a job (spin-up, teardown) measured on a `true` job
      streamingOnlyRatio: +middle(floors.map((f, i) => f / (streams[i].ms - fixed))).toFixed(2),
      sameJobWithoutStreamingMBps: mbps(plainMs),
      agentPeakRssMB: { median: mb(middle(streams.map((s) => s.rssKb))), max: mb(Math.max(...streams.map((s) => s.rssKb))), rounds: streams.map((s) => mb(s.rssKb)) },
      plainAgentPeakRssMB: { median: mb(middle(plains.map((p) => p.rssKb))), max: mb(Math.max(...plains.map((p) => p.rssKb))) },
      loadAverage: { start: loadAtStart, end: loadavg().map((l) => +l.toFixed(2)) },
      target: '>= 0.50 of floor; agent peak RSS < 200 MB',
    }),
  );
}

async function hundredStreams(processor: ProcessorProcess): Promise<void> {
  const jobs = 100;
  const perJob = 4 * 1024 * 1024;
  const write = 16 * 1024;
  const rss = watchPeakMemory(processor.child?.pid as number);
  const run = Date.now();
  const sinks = Array.from({ length: jobs }, (_, i) => {
    const jobId = `bench-many-${run}-${i}`;
    const data = randomBytes(perJob);
    const sink = new GrpcOutputSink({ target: processor.target, jobId, token: processor.token(jobId), stepCount: 1, jobName: `job-${i}`, deadlineMs: 300_000 });
    return { jobId, data, sink, sha: createHash('sha256').update(data).digest('hex') };
  });
  const t = process.hrtime.bigint();
  for (const j of sinks) {
    j.sink.event({ type: 'job-start', job: j.jobId, time: Date.now(), environment: {} });
    j.sink.event({ type: 'step-start', index: 0, name: 'write', stepType: 'run', time: Date.now(), background: false });
  }
  // interleave the jobs' writes, as concurrent steps produce them, yielding to the event loop
  for (let at = 0; at < perJob; at += write) {
    for (const j of sinks) j.sink.event({ type: 'output', index: 0, stream: 'stdout', data: j.data.subarray(at, at + write) });
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const j of sinks) {
    j.sink.event({ type: 'step-end', index: 0, status: 'success', exitCode: 0, durationMs: 1 });
    j.sink.event({ type: 'job-end', status: 'success', durationMs: 1 });
  }
  await Promise.all(sinks.map((j) => j.sink.close()));
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const peakKb = rss.stop();
  let identical = 0;
  for (const j of sinks) {
    const report = j.sink.report();
    const stored = await processor.output(j.jobId, 0);
    if (report?.complete && report.verified && createHash('sha256').update(stored).digest('hex') === j.sha) identical++;
  }
  console.log(
    JSON.stringify({
      bench: 'output-100-streams',
      jobs,
      bytesPerJob: perJob,
      totalMB: +((jobs * perJob) / 1e6).toFixed(1),
      seconds: +(ms / 1000).toFixed(2),
      aggregateMBps: +((jobs * perJob) / 1e6 / (ms / 1000)).toFixed(1),
      byteIdentical: `${identical}/${jobs}`,
      processorPeakRssMB: +(peakKb / 1024).toFixed(1),
    }),
  );
  if (identical !== jobs) throw new Error(`${jobs - identical} of ${jobs} streams were not stored byte-identical`);
}

async function main(): Promise<void> {
  const processor = await ProcessorProcess.start();
  try {
    await oneStream(processor);
    await hundredStreams(processor);
  } finally {
    await processor.stop();
  }
}

await main();
