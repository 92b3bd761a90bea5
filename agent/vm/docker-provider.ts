/**
 * The `docker` VM provider: a "VM" is a container of Deckhand's VM image (images/vm/) with its
 * own sshd, and for remote Docker its own engine, reached on a port published on 127.0.0.1.
 * Each VM gets a fresh host key and login key, put in place before its sshd starts, so that the
 * very first connection can already insist on the host key.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, totalmem } from 'node:os';
import type Docker from 'dockerode';
import type { Client } from 'ssh2';
import { InfrastructureError, errorMessage } from '../errors.js';
import type { Logger } from '../daemon-log.js';
import { connectDocker, engineMessage, engineStatus, isUnreachable, unreachableMessage } from '../executor/docker/engine.js';
import { formatDuration } from '../output/terminal.js';
import {
  DEFAULT_VM_IMAGE,
  keysArchive,
  VM_JOB_LABEL,
  VM_RUN_LABEL,
  VM_SINCE_LABEL,
  VM_USER,
  vmCreateOptions,
  vmFilter,
  vmLabels,
  vmLimits,
  type MachineCapacity,
} from './docker-vm-spec.js';
import type { MachineSettings } from '../assignment/assignment.js';
import type { VmProviderContext } from './open-provider.js';
import type { Vm, VmAccess, VmProvider, VmRecord, VmRequest } from './provider.js';
import { runCommand, SshLoginError, waitForLogin } from './ssh-login.js';
import { freshVmKeys } from './vm-keys.js';

export interface DockerVmProviderOptions {
  /** default: deckhand-test/vm:bookworm (CircleCI's machine image names all run on it) */
  image?: string;
  /** until sshd answers with the VM's host key (default 60 s) */
  sshTimeoutMs?: number;
  /** until the VM's Docker engine answers, for remote Docker (default 120 s) */
  engineTimeoutMs?: number;
  /**
   * Labels this provider's VMs so that list and reap see only VMs of the same scope (agents, or
   * tests, sharing an engine with others). Without one they see every Deckhand VM on the engine.
   */
  scope?: string;
  /** what a VM may get at most (default: this machine's CPUs and memory) */
  machine?: MachineCapacity;
  log?: Logger;
}

export class DockerVmProvider implements VmProvider {
  readonly name = 'docker' as const;
  private readonly docker: Docker;
  private readonly image: string;
  private readonly machine: MachineCapacity;

  constructor(private readonly options: DockerVmProviderOptions = {}) {
    this.docker = connectDocker();
    this.image = options.image ?? DEFAULT_VM_IMAGE;
    this.machine = options.machine ?? { cpus: availableParallelism(), memoryMb: Math.floor(totalmem() / 1048576) };
  }

  async acquire(request: VmRequest): Promise<Vm> {
    request.signal?.throwIfAborted();
    const since = Date.now();
    // the name, not the id, identifies it from the start: a create whose answer is lost is still found
    const name = `deckhand-vm-${randomBytes(6).toString('hex')}`;
    const keys = await freshVmKeys(name);
    const limits = vmLimits(request, this.machine);
    const what = `VM ${name} (${this.image}) for job ${request.owner.jobId}`;
    try {
      const container = await this.docker.createContainer(vmCreateOptions(request, { name, image: this.image, labels: vmLabels(request, since, this.options.scope), limits }));
      await container.putArchive(await keysArchive(keys), { path: '/' });
      await container.start();
      const info = await container.inspect();
      if (!info.State.Running) throw await stopped(container, info.State.ExitCode);
      const port = Number(info.NetworkSettings.Ports?.['22/tcp']?.[0]?.HostPort);
      if (!Number.isInteger(port) || port <= 0) throw new Error('the engine published no port for its sshd');
      const access: VmAccess = {
        host: '127.0.0.1',
        port,
        user: VM_USER.name,
        privateKey: keys.loginPrivateKey,
        // type and key only: the form known_hosts and pool files use
        hostKey: keys.hostPublicKey.split(' ').slice(0, 2).join(' '),
      };
      if (request.jobNetwork !== undefined) {
        const address = info.NetworkSettings.Networks?.[request.jobNetwork]?.IPAddress;
        if (!address) throw new Error(`it has no address on the job's network ${request.jobNetwork}`);
        access.jobAddress = address;
      }
      const client = await this.loginWhileRunning(container, access, request.signal);
      try {
        await this.engineReady(client);
      } finally {
        client.end();
      }
      return {
        id: container.id,
        access,
        ...(limits.note !== undefined ? { notes: [limits.note] } : {}),
        release: once(() => this.remove(container.id, name)),
      };
    } catch (error) {
      await this.remove(name, name).catch((cleanup: unknown) => this.options.log?.log('warn', `could not remove ${what} after a failed start: ${errorMessage(cleanup)}`));
      if (request.signal?.aborted) throw request.signal.reason;
      throw this.failure(error, what);
    }
  }

  async list(): Promise<VmRecord[]> {
    try {
      const containers = await this.docker.listContainers({ all: true, filters: vmFilter(this.options.scope) });
      return containers.map((info) => {
        const labels = info.Labels ?? {};
        const since = Number(labels[VM_SINCE_LABEL]);
        const record: VmRecord = { id: info.Id, since: Number.isFinite(since) ? since : info.Created * 1000 };
        const jobId = labels[VM_JOB_LABEL];
        const runId = labels[VM_RUN_LABEL];
        if (jobId !== undefined && runId !== undefined) record.owner = { jobId, runId };
        return record;
      });
    } catch (error) {
      throw this.failure(error, 'listing the VMs');
    }
  }

  async reap(olderThanMs: number): Promise<string[]> {
    const cutoff = Date.now() - olderThanMs;
    const stale = (await this.list()).filter((vm) => vm.since <= cutoff);
    await Promise.all(stale.map((vm) => this.remove(vm.id, vm.id.slice(0, 12))));
    return stale.map((vm) => vm.id);
  }

  /**
   * Logs in as soon as sshd answers, but gives up at once when the container stops (an
   * entrypoint that failed would otherwise be waited for until the timeout).
   */
  private async loginWhileRunning(container: Docker.Container, access: VmAccess, signal: AbortSignal | undefined): Promise<Client> {
    const stopWatching = new AbortController();
    const exited = new AbortController();
    container
      .wait({ condition: 'not-running', abortSignal: stopWatching.signal })
      .then(async (result: { StatusCode?: number }) => exited.abort(await stopped(container, result.StatusCode)))
      .catch(() => {});
    try {
      return await waitForLogin(access, {
        timeoutMs: this.options.sshTimeoutMs ?? 60_000,
        signal: signal ? AbortSignal.any([signal, exited.signal]) : exited.signal,
      });
    } catch (error) {
      if (exited.signal.aborted && !signal?.aborted) throw exited.signal.reason;
      throw error;
    } finally {
      stopWatching.abort();
    }
  }

  /** Waits, inside the VM, until its engine answers its users (circleci is in the docker group). */
  private async engineReady(client: Client): Promise<void> {
    const timeoutMs = this.options.engineTimeoutMs ?? 120_000;
    const seconds = Math.ceil(timeoutMs / 1000);
    const result = await runCommand(client, `timeout ${seconds} sh -c 'until docker info >/dev/null 2>&1; do sleep 0.1; done' || { tail -n 3 /var/log/dockerd.log >&2; exit 1; }`);
    if (result.code !== 0) {
      const last = lastLine(Buffer.from(result.stderr));
      throw new Error(`its Docker engine did not answer within ${formatDuration(timeoutMs)}${last ? ` (dockerd: ${last})` : ''}`);
    }
  }

  private async remove(ref: string, shown: string): Promise<void> {
    try {
      // v: the anonymous volumes go too; a named data volume (layer caching) is kept
      await this.docker.getContainer(ref).remove({ force: true, v: true });
    } catch (error) {
      if (engineStatus(error) === 404 || engineStatus(error) === 409) return; // gone, or going
      throw new InfrastructureError(`could not remove VM container ${shown}: ${engineMessage(error)}; remove it with: docker rm -f -v ${shown}`);
    }
  }

  private failure(error: unknown, what: string): InfrastructureError {
    if (error instanceof InfrastructureError) return error;
    if (isUnreachable(error)) return new InfrastructureError(unreachableMessage(error));
    if (engineStatus(error) === 404 && /no such image/i.test(engineMessage(error))) {
      return new InfrastructureError(`the VM image ${this.image} is not on the Docker engine; build it with: make images (scripts/build-test-images.sh)`);
    }
    const reason = error instanceof SshLoginError || engineStatus(error) === undefined ? errorMessage(error) : engineMessage(error);
    return new InfrastructureError(`${what}: ${reason}`);
  }
}

/** Why a VM's container stopped: its exit code and the last line of its log. */
async function stopped(container: Docker.Container, exitCode: number | undefined): Promise<Error> {
  const logs = await container.logs({ stdout: true, stderr: true, tail: 5 }).catch(() => Buffer.alloc(0));
  const last = lastLine(logs);
  return new Error(`it stopped with exit code ${exitCode ?? '?'}${last ? `: ${last}` : ''}`);
}

/** The last non-empty line of text, or of a container's log (frames: 8-byte header, payload). */
function lastLine(output: Buffer): string {
  let text = output.toString();
  if (output.length >= 8 && output[0]! <= 2 && output.readUIntBE(1, 3) === 0) {
    const payloads: Buffer[] = [];
    for (let at = 0; at + 8 <= output.length; ) {
      const size = output.readUInt32BE(at + 4);
      payloads.push(output.subarray(at + 8, at + 8 + size));
      at += 8 + size;
    }
    text = Buffer.concat(payloads).toString();
  }
  const lines = text.split('\n').map((line) => line.trim()).filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 300);
}

function once(action: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= action().catch((error: unknown) => {
      done = undefined; // a failed removal may be retried
      throw error;
    });
    return done;
  };
}

/** The provider for `runtime.machine.provider: docker`. */
export function dockerVmProviderFor(_settings: MachineSettings, ctx: VmProviderContext): DockerVmProvider {
  return new DockerVmProvider(ctx.log ? { log: ctx.log } : {});
}
