/**
 * What a `docker`-provider VM is made of, without any engine call: its labels (how list and
 * reap find VMs after a crash), its create options (Docker-in-Docker without --privileged,
 * which the engines Deckhand runs on may refuse) and the archive that puts its keys in place
 * before its sshd starts.
 */
import type { ContainerCreateOptions, HostConfig } from 'dockerode';
import tar from 'tar-stream';
import { OWNER_LABEL } from '../executor/docker/labels.js';
import { formatOwner, thisAgent } from '../owner.js';
import type { VmRequest } from './provider.js';
import type { VmKeys } from './vm-keys.js';

/** Deckhand's VM image, built locally by scripts/build-test-images.sh from images/vm/. */
export const DEFAULT_VM_IMAGE = 'deckhand-test/vm:bookworm';

/** Every VM container carries this (=1); the other labels say whose it is and since when. */
export const VM_LABEL = 'com.deckhand.vm';
export const VM_JOB_LABEL = 'com.deckhand.vm.job';
export const VM_RUN_LABEL = 'com.deckhand.vm.run';
/** epoch milliseconds of the acquire */
export const VM_SINCE_LABEL = 'com.deckhand.vm.since';
export const VM_PURPOSE_LABEL = 'com.deckhand.vm.purpose';
/** set when the provider has a scope: the agents (or tests) sharing an engine that list and reap only their own */
export const VM_SCOPE_LABEL = 'com.deckhand.vm.scope';

/** The user of Deckhand's VM image, and its numeric ids (the key files are owned by it). */
export const VM_USER = { name: 'circleci', uid: 1000, gid: 1000, home: '/home/circleci' };

export function vmLabels(request: VmRequest, since: number, scope?: string): Record<string, string> {
  return {
    [VM_LABEL]: '1',
    [VM_JOB_LABEL]: request.owner.jobId,
    [VM_RUN_LABEL]: request.owner.runId,
    [VM_SINCE_LABEL]: String(since),
    [VM_PURPOSE_LABEL]: request.purpose,
    [OWNER_LABEL]: formatOwner(thisAgent()),
    ...(scope !== undefined ? { [VM_SCOPE_LABEL]: scope } : {}),
  };
}

/** The label filter of list and reap: every Deckhand VM on the engine, or those of one scope. */
export function vmFilter(scope?: string): string {
  return JSON.stringify({ label: [`${VM_LABEL}=1`, ...(scope !== undefined ? [`${VM_SCOPE_LABEL}=${scope}`] : [])] });
}

/** What the machine has: a VM gets at most that (Docker refuses more CPUs than exist). */
export interface MachineCapacity {
  cpus: number;
  memoryMb: number;
}

export interface VmLimits {
  cpus?: number;
  memoryMb?: number;
  /** a line for the job when the request was cut down */
  note?: string;
}

export function vmLimits(request: VmRequest, machine: MachineCapacity): VmLimits {
  const cpus = request.cpus > 0 ? Math.min(request.cpus, machine.cpus) : undefined;
  const memoryMb = request.memoryMb > 0 ? Math.min(request.memoryMb, machine.memoryMb) : undefined;
  const limits: VmLimits = {};
  if (cpus !== undefined) limits.cpus = cpus;
  if (memoryMb !== undefined) limits.memoryMb = memoryMb;
  if ((cpus ?? request.cpus) < request.cpus || (memoryMb ?? request.memoryMb) < request.memoryMb) {
    limits.note = `resource_class ${request.resourceClass} asks for ${request.cpus} CPUs and ${request.memoryMb} MB; this machine has ${machine.cpus} CPUs and ${machine.memoryMb} MB, so the VM gets ${cpus ?? request.cpus} CPUs and ${memoryMb ?? request.memoryMb} MB`;
  }
  return limits;
}

/** The engine's host config, with the field @types/dockerode lacks (API 1.41). */
type VmHostConfig = HostConfig & { CgroupnsMode?: 'private' | 'host' };

export function vmCreateOptions(request: VmRequest, options: { name: string; image: string; labels: Record<string, string>; limits: VmLimits }): ContainerCreateOptions {
  const hostConfig: VmHostConfig = {
    // Docker-in-Docker without --privileged: every capability but SYS_RESOURCE, no seccomp or
    // AppArmor filter, and a cgroup namespace of its own, whose cgroups the image's entrypoint
    // makes writable for the nested engine
    CapAdd: ['ALL'],
    CapDrop: ['SYS_RESOURCE'],
    SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
    CgroupnsMode: 'private',
    // a random free port on loopback only: the agent is the one SSH client from this machine
    PortBindings: { '22/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
    NetworkMode: request.jobNetwork ?? 'bridge',
    ...(options.limits.cpus !== undefined ? { NanoCpus: Math.round(options.limits.cpus * 1e9) } : {}),
    ...(options.limits.memoryMb !== undefined ? { Memory: options.limits.memoryMb * 1048576 } : {}),
  };
  // The nested engine's data: a named volume kept between jobs (layer caching), or a tmpfs that
  // goes with the VM. Docker mounts a tmpfs noexec and nosuid unless told: images need both.
  if (request.dockerDataVolume !== undefined) {
    hostConfig.Mounts = [{ Type: 'volume', Source: request.dockerDataVolume, Target: '/var/lib/docker' }];
  } else {
    hostConfig.Tmpfs = { '/var/lib/docker': 'rw,exec,suid,dev,mode=0711' };
  }
  return {
    name: options.name,
    Image: options.image,
    Hostname: 'deckhand-vm',
    // machine jobs get a running engine too, as CircleCI's machine images have one
    Env: ['DECKHAND_VM_DOCKERD=1'],
    Labels: options.labels,
    ExposedPorts: { '22/tcp': {} },
    HostConfig: hostConfig,
  };
}

/**
 * A tar for the root of the VM: its host key pair and its user's authorized_keys, owned and
 * moded as sshd demands (the engine keeps the owners written in the archive).
 */
export function keysArchive(keys: VmKeys): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date();
  const root = { uid: 0, gid: 0, mtime };
  const user = { uid: VM_USER.uid, gid: VM_USER.gid, mtime };
  const line = (text: string) => (text.endsWith('\n') ? text : `${text}\n`);
  pack.entry({ ...root, name: 'etc/ssh/ssh_host_ed25519_key', mode: 0o600 }, line(keys.hostPrivateKey));
  pack.entry({ ...root, name: 'etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644 }, line(keys.hostPublicKey));
  pack.entry({ ...user, name: `${VM_USER.home.slice(1)}/.ssh`, type: 'directory', mode: 0o700 });
  pack.entry({ ...user, name: `${VM_USER.home.slice(1)}/.ssh/authorized_keys`, mode: 0o600 }, line(keys.loginPublicKey));
  pack.finalize();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    pack.on('data', (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
}
