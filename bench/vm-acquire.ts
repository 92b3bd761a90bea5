/**
 * VM acquire with the `docker` provider against the engine's own floor, measured in the same run:
 * create and start a container of the same VM image with the same options through the Engine API,
 * then poll its published port until sshd sends its banner. Deckhand's acquire does that plus the
 * per-VM keys (made, archived and put in before the start) and a full SSH login that checks the
 * host key. Target: under floor + 300 ms. Floor and acquire alternate, so that both medians see
 * the same swings of this shared machine's load. BENCH_RUNS sets the count (default 11).
 */
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectDocker } from '../agent/executor/docker/engine.js';
import { DockerVmProvider } from '../agent/vm/docker-provider.js';
import { DEFAULT_VM_IMAGE, vmCreateOptions, vmLabels, vmLimits, VM_SCOPE_LABEL } from '../agent/vm/docker-vm-spec.js';
import type { VmRequest } from '../agent/vm/provider.js';
import { middle } from './support.js';

const docker = connectDocker();
const scope = `bench-vm-acquire-${process.pid}`;
const provider = new DockerVmProvider({ scope });
const request = (purpose: VmRequest['purpose']): VmRequest => ({ resourceClass: 'medium', cpus: 2, memoryMb: 4096, purpose, owner: { jobId: 'bench', runId: 'bench' } });

/** True once the port answers with an SSH identification line. */
function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('data', (data: Buffer) => done(data.subarray(0, 4).toString() === 'SSH-'));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.setTimeout(5000, () => done(false));
  });
}

/** create + start + inspect + poll for the banner (every 20 ms, as the provider retries); removal not timed */
async function floor(): Promise<number> {
  const req = request('machine');
  const t = process.hrtime.bigint();
  const options = vmCreateOptions(req, { name: `${scope}-floor-${Date.now()}`, image: DEFAULT_VM_IMAGE, labels: vmLabels(req, Date.now(), scope), limits: vmLimits(req, { cpus: 2, memoryMb: 4096 }) });
  const container = await docker.createContainer(options);
  try {
    await container.start();
    const info = await container.inspect();
    const port = Number(info.NetworkSettings.Ports?.['22/tcp']?.[0]?.HostPort);
    while (!(await banner(port))) await sleep(20);
    return Number(process.hrtime.bigint() - t) / 1e6;
  } finally {
    await container.remove({ force: true, v: true });
  }
}

async function acquire(purpose: VmRequest['purpose']): Promise<number> {
  const t = process.hrtime.bigint();
  const vm = await provider.acquire(request(purpose));
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  await vm.release();
  return ms;
}

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 11);
  await floor();
  await acquire('machine');
  const floors: number[] = [];
  const acquires: number[] = [];
  for (let i = 0; i < runs; i++) {
    floors.push(await floor());
    acquires.push(await acquire('machine'));
  }
  const f = middle(floors);
  const a = middle(acquires);
  console.log(
    JSON.stringify({
      bench: 'vm-acquire-docker',
      runs,
      floorMs: +f.toFixed(1),
      acquireMs: +a.toFixed(1),
      overFloorMs: +(a - f).toFixed(1),
      floorRangeMs: [+Math.min(...floors).toFixed(1), +Math.max(...floors).toFixed(1)],
      acquireRangeMs: [+Math.min(...acquires).toFixed(1), +Math.max(...acquires).toFixed(1)],
      loadAverage: loadavg().map((l) => +l.toFixed(2)),
      target: '< floor + 300 ms',
    }),
  );
  // for reading: a remote-Docker VM also waits for its engine (no floor of its own)
  const remote: number[] = [];
  for (let i = 0; i < Math.min(5, runs); i++) remote.push(await acquire('remote-docker'));
  console.log(JSON.stringify({ bench: 'vm-acquire-docker-remote-docker', runs: remote.length, acquireMs: +middle(remote).toFixed(1) }));
}

try {
  await main();
} finally {
  const left = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${VM_SCOPE_LABEL}=${scope}`] }) });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
}
