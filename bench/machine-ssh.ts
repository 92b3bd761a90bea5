/**
 * The machine executor over SSH, against floors measured in the same run on the same sshd (a
 * container of deckhand-test/sshd:bookworm on 127.0.0.1, logged in as `circleci`):
 *  (1) per-step cost: 50 trivial steps (`true`) through runJob on a MachineExecutor — each step
 *      is an exec of `/bin/bash -eo pipefail -c true` with the job's environment plus the halt
 *      check — against one ssh2 exec of `true` on an already open connection. Also shown: an ssh2
 *      exec of the step's own command line (`/bin/bash -eo pipefail -c true`, no environment),
 *      which the step cannot be cheaper than, and MachineExecutor.exec of that command with the
 *      job's environment and working directory (the executor's part of a step, without the
 *      runner's), and the plain client sending the very command line the executor sends for it
 *      (what the remote shell does for the environment, folder and process group). Per step = the
 *      time from the first step's start to the 51st's, over 50: a whole cycle of step, halt check
 *      and the runner's work in between, inside one job (the connection's handshake, which swings
 *      by tens of ms, stays out of it). The floor is measured just before and just after that job,
 *      and their mean taken. Target < 1.25× the `true` floor.
 *  (2) step output: `cat` of a 200 MB file on the VM as a step of runJob, its output written to
 *      the agent's log file (LogFileSink; step-start to step-end), and as a bare
 *      MachineExecutor.exec piped to a file; against OpenSSH's `ssh HOST cat FILE > /dev/null`
 *      (a new connection per run, as the floor is usually stated, and over a ControlMaster
 *      connection that is already open, which leaves out the handshake). Also an ssh2 exec of
 *      `cat` piped to a file with nothing of Deckhand in between. Target ≥ 0.70 of OpenSSH.
 * Rounds alternate floor and Deckhand; ratios are the median of the rounds' ratios, since this
 * 2-CPU machine is shared and its load swings between rounds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import ssh2 from 'ssh2';
import { MachineExecutor } from '../agent/executor/machine/machine-executor.js';
import { execCommandLine } from '../agent/executor/machine/remote-command.js';
import { type RunStep } from '../agent/jobspec/jobspec.js';
import type { JobEvent, OutputSink } from '../agent/output/events.js';
import { LogFileSink } from '../agent/output/log-file.js';
import { runJob } from '../agent/runner/job-runner.js';
import type { VmAccess } from '../agent/vm/provider.js';
import { runJobOptionsFor } from '../test/support/assignment.js';
import { startSshd } from '../test/support/sshd-container.js';
import { middle } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const STEPS = 50;
const BYTES = 200_000_000;
const BIG_FILE = '/tmp/bench-200MB.txt';
const scratch = mkdtempSync(join(tmpdir(), 'deckhand-bench-machine-'));

const ms = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const round2 = (n: number): number => +n.toFixed(2);

/** A plain ssh2 connection: the floor's own client. */
async function rawConnection(access: VmAccess): Promise<ssh2.Client> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: access.host, port: access.port, username: access.user, privateKey: access.privateKey });
  });
  client.setNoDelay(true);
  return client;
}

function rawExec(client: ssh2.Client, command: string, sinkFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      channel.stderr.resume();
      channel.end();
      if (sinkFile) pipeline(channel, createWriteStream(sinkFile)).then(resolve, reject);
      else {
        channel.resume();
        channel.once('close', () => resolve());
      }
    });
  });
}

function step(command: string): RunStep {
  return { type: 'run', name: command, when: 'on_success', command, environment: {}, background: false, noOutputTimeoutSeconds: 600 };
}

/** A machine job of `steps`, built from an assignment as the front ends build it. */
async function job(executor: MachineExecutor, steps: RunStep[], sink: OutputSink): Promise<void> {
  const result = await runJob(runJobOptionsFor({ steps, executor, sink, scratch, kind: { kind: 'machine', dockerLayerCaching: false } }));
  if (result.status !== 'success') throw new Error(`the bench job ended ${result.status}`);
}

/** Keeps when each step started (ms, high resolution), step durations, and the job's environment. */
class StepTimes implements OutputSink {
  readonly starts = new Map<number, number>();
  readonly durations = new Map<number, number>();
  environment: Record<string, string> = {};
  event(e: JobEvent): void {
    if (e.type === 'step-start') this.starts.set(e.index, Number(process.hrtime.bigint()) / 1e6);
    if (e.type === 'step-end') this.durations.set(e.index, e.durationMs);
    if (e.type === 'job-start') this.environment = e.environment;
  }
  async close(): Promise<void> {}
}

/** Wall time (ms) of a job of `steps` on a fresh executor (a connection of its own) to the same VM. */
async function timedJob(access: VmAccess, steps: RunStep[], sink = new StepTimes()): Promise<number> {
  const executor = new MachineExecutor({ access, release: async () => undefined });
  const t = process.hrtime.bigint();
  await job(executor, steps, sink);
  return ms(t);
}

async function perStep(access: VmAccess): Promise<void> {
  const loadAtStart = loadavg().map((l) => +l.toFixed(2));
  const client = await rawConnection(access);
  const executor = new MachineExecutor({ access, release: async () => undefined });
  await executor.prepare();
  const floors: number[] = [];
  const stepLines: number[] = [];
  const execs: number[] = [];
  const lines: number[] = [];
  const steps: number[] = [];
  try {
    const trivial = Array.from({ length: STEPS + 1 }, () => step('true'));
    // warm: the VM's page cache, the step modules; and the environment a step gets
    const warm = new StepTimes();
    await timedJob(access, trivial.slice(0, 2), warm);
    const stepRequest = { command: ['/bin/bash', '-eo', 'pipefail', '-c', 'true'], env: warm.environment, workingDirectory: '/home/circleci/project' };
    // the very line the executor sends for it, by the plain client: the remote shell's share
    const executorLine = execCommandLine(stepRequest, 'deckhand-pgid-0123456789abcdef', access.user).line;
    const execStep = async (): Promise<void> => {
      const run = executor.exec(stepRequest);
      run.stdout.resume();
      run.stderr.resume();
      await run.exit;
    };
    for (let i = 0; i < 5; i++) await rawExec(client, 'true');
    const floor = async (): Promise<number> => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < STEPS; i++) await rawExec(client, 'true');
      return ms(t) / STEPS;
    };
    for (let round = 0; round < ROUNDS; round++) {
      const floorBefore = await floor();
      const times = new StepTimes();
      await timedJob(access, trivial, times);
      floors.push((floorBefore + (await floor())) / 2);
      steps.push(((times.starts.get(STEPS) as number) - (times.starts.get(0) as number)) / STEPS);
      let t = process.hrtime.bigint();
      for (let i = 0; i < STEPS; i++) await rawExec(client, '/bin/bash -eo pipefail -c true');
      stepLines.push(ms(t) / STEPS);
      t = process.hrtime.bigint();
      for (let i = 0; i < STEPS; i++) await rawExec(client, executorLine);
      lines.push(ms(t) / STEPS);
      t = process.hrtime.bigint();
      for (let i = 0; i < STEPS; i++) await execStep();
      execs.push(ms(t) / STEPS);
    }
  } finally {
    client.end();
    await executor.teardown();
  }
  console.log(
    JSON.stringify({
      bench: 'machine-per-step',
      rounds: ROUNDS,
      steps: STEPS,
      floorSsh2ExecTrueMs: round2(middle(floors)),
      ssh2ExecOfTheStepCommandMs: round2(middle(stepLines)),
      ssh2ExecOfTheExecutorsLineMs: round2(middle(lines)),
      executorExecOfTheStepMs: round2(middle(execs)),
      deckhandPerStepMs: round2(middle(steps)),
      ratio: round2(middle(steps.map((s, i) => s / floors[i]))),
      roundRatios: steps.map((s, i) => round2(s / floors[i])),
      ratioToStepCommand: round2(middle(steps.map((s, i) => s / stepLines[i]))),
      loadAverage: { start: loadAtStart, end: loadavg().map((l) => +l.toFixed(2)) },
      target: '< 1.25x the ssh2 exec of true',
    }),
  );
}

/** Starts an OpenSSH ControlMaster to the VM; returns the ssh options that use it and how to stop it. */
async function openSshMaster(port: number, key: string, knownHosts: string): Promise<{ options: string[]; stop: () => void }> {
  const control = join(scratch, 'control');
  const options = ['-i', key, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(port)];
  const master = spawn('ssh', [...options, '-o', 'ControlMaster=yes', '-o', `ControlPath=${control}`, '-N', 'circleci@127.0.0.1'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && spawnSync('ssh', [...options, '-o', `ControlPath=${control}`, '-O', 'check', 'circleci@127.0.0.1']).status !== 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { options: [...options, '-o', `ControlPath=${control}`], stop: () => master.kill() };
}

function openSshCat(options: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', `ssh ${options.map((o) => `'${o}'`).join(' ')} circleci@127.0.0.1 cat ${BIG_FILE} > /dev/null`]);
  if (r.status !== 0) throw new Error(`ssh cat failed: ${r.stderr.toString()}`);
  return ms(t);
}

async function stepOutput(access: VmAccess, port: number): Promise<void> {
  const loadAtStart = loadavg().map((l) => +l.toFixed(2));
  const key = join(scratch, 'key');
  const knownHosts = join(scratch, 'known_hosts');
  writeFileSync(key, access.privateKey, { mode: 0o600 });
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${access.hostKey}\n`);
  const plainOptions = ['-i', key, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-p', String(port)];
  const master = await openSshMaster(port, key, knownHosts);
  const client = await rawConnection(access);
  const executor = new MachineExecutor({ access, release: async () => undefined });
  await executor.prepare();
  const outFile = join(scratch, 'out.bin');
  const rows: { openSsh: number; openSshMaster: number; ssh2Raw: number; exec: number; step: number }[] = [];
  try {
    const made = executor.exec({ command: ['/bin/sh', '-c', `yes 'a line of build output, the kind a compiler or test runner prints all day' | head -c ${BYTES} > ${BIG_FILE}`] });
    made.stdout.resume();
    made.stderr.resume();
    if ((await made.exit).exitCode !== 0) throw new Error('cannot write the 200 MB file on the VM');
    openSshCat(master.options);
    for (let round = 0; round < ROUNDS; round++) {
      const openSsh = openSshCat(plainOptions);
      const openSshMaster = openSshCat(master.options);
      let t = process.hrtime.bigint();
      await rawExec(client, `cat ${BIG_FILE}`, outFile);
      const ssh2Raw = ms(t);
      t = process.hrtime.bigint();
      const run = executor.exec({ command: ['cat', BIG_FILE] });
      run.stderr.resume();
      await pipeline(run.stdout, createWriteStream(outFile));
      if ((await run.exit).exitCode !== 0) throw new Error('cat failed');
      const exec = ms(t);
      if (statSync(outFile).size !== BYTES) throw new Error('short output');
      // the step, into the agent's log file
      const log = join(scratch, 'job.log');
      const times = new StepTimes();
      const logFile = new LogFileSink(log);
      const both: OutputSink = {
        event: (e) => {
          times.event(e);
          logFile.event(e);
        },
        close: () => logFile.close(),
      };
      await job(new MachineExecutor({ access, release: async () => undefined }), [step(`cat ${BIG_FILE}`)], both);
      await both.close();
      if (statSync(log).size < BYTES) throw new Error('the log file is short');
      rows.push({ openSsh, openSshMaster, ssh2Raw, exec, step: times.durations.get(0) ?? NaN });
    }
  } finally {
    master.stop();
    client.end();
    await executor.teardown();
  }
  const mbps = (t: number): number => +(BYTES / 1e6 / (t / 1000)).toFixed(1);
  const col = (pick: (r: (typeof rows)[number]) => number): number => mbps(middle(rows.map(pick)));
  const ratio = (pick: (r: (typeof rows)[number]) => number, floor: (r: (typeof rows)[number]) => number): number => round2(middle(rows.map((r) => floor(r) / pick(r))));
  console.log(
    JSON.stringify({
      bench: 'machine-step-output-200MB',
      rounds: ROUNDS,
      floorOpenSshMBps: col((r) => r.openSsh),
      floorOpenSshOpenConnectionMBps: col((r) => r.openSshMaster),
      ssh2RawToFileMBps: col((r) => r.ssh2Raw),
      execToFileMBps: col((r) => r.exec),
      stepToLogFileMBps: col((r) => r.step),
      stepRatio: ratio((r) => r.step, (r) => r.openSsh),
      stepRoundRatios: rows.map((r) => round2(r.openSsh / r.step)),
      stepRatioToOpenConnection: ratio((r) => r.step, (r) => r.openSshMaster),
      execRatio: ratio((r) => r.exec, (r) => r.openSsh),
      execRatioToOpenConnection: ratio((r) => r.exec, (r) => r.openSshMaster),
      ssh2RawRatio: ratio((r) => r.ssh2Raw, (r) => r.openSsh),
      loadAverage: { start: loadAtStart, end: loadavg().map((l) => +l.toFixed(2)) },
      target: '>= 0.70 of OpenSSH',
    }),
  );
}

async function main(): Promise<void> {
  const vm = await startSshd('bench');
  try {
    const access = vm.access();
    await perStep(access);
    await stepOutput(access, vm.port);
  } finally {
    await vm.remove();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
