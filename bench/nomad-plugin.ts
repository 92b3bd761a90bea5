/**
 * The Nomad task driver plugin (nomad-plugin/dist/deckhand), started and driven as a Nomad client
 * does, against floors measured in the same run:
 *
 * (a) start to handshake: the plugin spawned with Nomad's magic cookie until its handshake line
 *     is on stdout (the moment go-plugin's host can dial); floor: a bare `node` that writes one
 *     line. Target: under 300 ms.
 * (b) StartTask to the job's first step output in the task's stdout FIFO, against `deckhand agent
 *     run` of the same assignment from spawn to the same output on its stdout, alternated run by
 *     run. Target: under +100 ms.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { credentials, makeGenericClientConstructor, type Client, type ServiceDefinition } from '@grpc/grpc-js';
import { encode } from '@msgpack/msgpack';
import { protocol } from '../nomad-plugin/src/protocol.js';
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from '../nomad-plugin/src/go-plugin/cookie.js';
import { middle, repo } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const plugin = join(repo, 'nomad-plugin', 'dist', 'deckhand');
const bin = join(repo, 'bin', 'deckhand.js');
const IMAGE = 'deckhand-test/busybox:latest';
// the command's text is in the step's header; only its output says "first-2-marker"
const MARKER = 'first-2-marker';

function ms(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

/** Spawns a process and resolves when `text` has appeared on its stdout, with the time it took. */
function timeToOutput(command: string, args: string[], env: NodeJS.ProcessEnv, text: string): Promise<{ ms: number; child: ChildProcess; first: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) {
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        resolve({ ms: ms(started), child, first: seen });
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${command} exited ${code} before printing ${JSON.stringify(text)}: ${seen}`)));
  });
}

const pluginEnv = { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: '2' };

async function handshake(): Promise<{ floor: number; plugin: number }> {
  const floor: number[] = [];
  const started: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const f = await timeToOutput(process.execPath, ['-e', 'process.stdout.write("1|2|unix|/x|grpc|\\n")'], process.env, '|grpc|');
    const p = await timeToOutput(plugin, [], pluginEnv, '|grpc|');
    // SIGTERM: the plugin removes its socket's folder on the way out
    p.child.kill('SIGTERM');
    f.child.kill('SIGKILL');
    if (i >= 2) {
      floor.push(f.ms);
      started.push(p.ms);
    }
  }
  return { floor: middle(floor), plugin: middle(started) };
}

type Unary = (request: unknown, callback: (err: Error | null, value?: unknown) => void) => void;

function client(def: ServiceDefinition, socket: string): Client & Record<string, Unary> {
  const Ctor = makeGenericClientConstructor(def, 'service');
  return new Ctor(`unix://${socket}`, credentials.createInsecure()) as unknown as Client & Record<string, Unary>;
}

function call<T>(c: Record<string, Unary>, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => c[method](request, (err, value) => (err ? reject(err) : resolve(value as T))));
}

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-nomad-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n      - run: echo "first-$((1+1))-marker"\n`);
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['-c', 'user.name=b', '-c', 'user.email=b@example.com', 'commit', '-qm', 'init']]) spawnSync('git', args, { cwd: dir });
  return dir;
}

/** Nomad's log collector: the FIFO made and read; resolves when `text` has come through. */
function fifo(path: string, text: string): { seen: Promise<bigint> } {
  spawnSync('mkfifo', [path]);
  const stream = createReadStream(path);
  let acc = '';
  const seen = new Promise<bigint>((resolve) => {
    stream.on('data', (d) => {
      acc += d.toString();
      if (acc.includes(text)) resolve(process.hrtime.bigint());
    });
  });
  return { seen };
}

async function startTaskVersusAgentRun(): Promise<{ agentRun: number; startTask: number }> {
  const dir = project();
  const home = join(dir, '.home');
  const printed = spawnSync(process.execPath, [bin, 'execute', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: home } });
  if (printed.status !== 0) throw new Error(`execute --print-assignment: ${printed.stderr}`);
  const assignmentFile = join(dir, 'assignment.json');
  writeFileSync(assignmentFile, printed.stdout);

  const p = await timeToOutput(plugin, [], pluginEnv, '|grpc|');
  const socket = p.first.split('|')[3];
  const { services } = protocol();
  const base = client(services.base, socket);
  const driver = client(services.driver, socket);
  // the plugin config as Nomad encodes it: every attribute, sorted, absent ones nil
  const config = {
    deckhand: bin,
    docker_endpoint: process.env.DOCKER_HOST || 'unix:///var/run/docker.sock',
    output_processor: null,
    output_secret_file: null,
    output_url: null,
    reserved_cpu_cores: 1,
    reserved_memory_mb: 256,
    store: join(dir, 'store'),
  };
  await call(base, 'SetConfig', { msgpack_config: Buffer.from(encode(config)), plugin_api_version: '0.1.0' });
  const taskConfig = Buffer.from(encode({ assignment: null, assignment_path: null, kill_timeout: '10s', payload: 'payload' }));

  const viaPlugin = async (): Promise<number> => {
    const allocId = randomUUID();
    const allocDir = join(dir, 'allocs', allocId);
    const taskDir = join(allocDir, 'agent');
    mkdirSync(join(allocDir, 'alloc', 'logs'), { recursive: true });
    mkdirSync(join(taskDir, 'local'), { recursive: true });
    writeFileSync(join(taskDir, 'local', 'payload'), printed.stdout);
    const stdout = join(allocDir, 'alloc', 'logs', '.agent.stdout.fifo');
    const stderr = join(allocDir, 'alloc', 'logs', '.agent.stderr.fifo');
    const out = fifo(stdout, MARKER);
    fifo(stderr, '\u0000never');
    const id = `${allocId}/agent/${allocId.slice(0, 8)}`;
    const env = { NOMAD_ALLOC_ID: allocId, NOMAD_TASK_NAME: 'agent', NOMAD_TASK_DIR: join(taskDir, 'local'), NOMAD_ALLOC_DIR: join(allocDir, 'alloc'), NOMAD_SECRETS_DIR: join(taskDir, 'secrets'), DECKHAND_HOME: home };
    const started = process.hrtime.bigint();
    await call(driver, 'StartTask', { task: { id, name: 'agent', msgpack_driver_config: taskConfig, env, alloc_dir: allocDir, alloc_id: allocId, stdout_path: stdout, stderr_path: stderr } });
    if (process.env.BENCH_DEBUG) console.error(`StartTask answered after ${ms(started).toFixed(1)} ms`);
    const at = await out.seen;
    await call(driver, 'WaitTask', { task_id: id });
    await call(driver, 'DestroyTask', { task_id: id, force: true });
    return Number(at - started) / 1e6;
  };
  const viaAgentRun = async (): Promise<number> => {
    const r = await timeToOutput(process.execPath, [bin, 'agent', 'run', '--assignment', assignmentFile, '--no-color', '--log-file', join(dir, 'job.log')], { ...process.env, DECKHAND_HOME: home }, MARKER);
    await new Promise((resolve) => r.child.once('exit', resolve));
    return r.ms;
  };
  // warm-up: the engine, and each subcommand's code cache
  await viaAgentRun();
  await viaPlugin();
  const agentRun: number[] = [];
  const startTask: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    agentRun.push(await viaAgentRun());
    startTask.push(await viaPlugin());
  }
  base.close();
  driver.close();
  p.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  return { agentRun: middle(agentRun), startTask: middle(startTask) };
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY?.split(',');
  if (!only || only.includes('a')) {
    const h = await handshake();
    console.log(JSON.stringify({ bench: 'nomad-plugin-handshake', runs: RUNS, floorNodeMs: +h.floor.toFixed(1), pluginHandshakeMs: +h.plugin.toFixed(1), overFloorMs: +(h.plugin - h.floor).toFixed(1), loadAverage: loadavg().map((l) => +l.toFixed(2)), target: 'handshake < 300 ms' }));
  }
  if (!only || only.includes('b')) {
    const s = await startTaskVersusAgentRun();
    console.log(JSON.stringify({ bench: 'nomad-plugin-start-task', runs: RUNS, agentRunFirstOutputMs: +s.agentRun.toFixed(1), startTaskFirstOutputMs: +s.startTask.toFixed(1), differenceMs: +(s.startTask - s.agentRun).toFixed(1), loadAverage: loadavg().map((l) => +l.toFixed(2)), target: 'StartTask < agent run + 100 ms' }));
  }
  process.exit(0);
}

await main();
