/**
 * The `aws` VM provider: every VM is an EC2 instance of its own, launched for one job and
 * terminated after it. The AMI comes from the machine image name, the instance type from the
 * resource class; user data installs a host key and a login key made for this VM alone, and the VM
 * is handed over only once its sshd answers with that host key and takes that login key.
 *
 * Every path ends the instance: a failed or canceled boot terminates it before acquire() throws,
 * release() terminates it, and what a dead agent leaves behind carries `ManagedBy=deckhand` and
 * the time it was handed over, for reap(). docs/machine.md ("aws") has the settings, the IAM
 * policy and the trade-offs of the warm pool.
 */
import type { AwsVmSettings, MachineSettings } from '../assignment/assignment.js';
import { InfrastructureError, UsageError } from '../errors.js';
import { Ec2Instances, type AgentEnvironment } from './aws/ec2.js';
import { instanceTypeFor } from './aws/instance-types.js';
import { instanceTags, MANAGED_BY, recordOf, type Purpose } from './aws/tags.js';
import { userDataScript, VM_USER } from './aws/user-data.js';
import { freshVmKeys } from './vm-keys.js';
import { WarmPool, type WarmVm } from './aws/warm-pool.js';
import type { VmProviderContext } from './open-provider.js';
import type { Vm, VmAccess, VmProvider, VmRecord, VmRequest } from './provider.js';
import { SshNotReady, waitForSsh, type SshWaitOptions } from './ssh-ready.js';

export type { AgentEnvironment } from './aws/ec2.js';

/**
 * Resolves once the VM is ready: its sshd answers with `vm.access.hostKey` and accepts
 * `vm.access.privateKey`. Rejects when it is not by the deadline (an SshNotReady says why).
 */
export type ReadinessCheck = (vm: { id: string; access: VmAccess }, options: SshWaitOptions) => Promise<void>;

export interface AwsProviderOptions {
  /** default: a real SSH login to the instance's address (waitForSsh) */
  waitReady?: ReadinessCheck;
  /** from launch until the instance runs with an address; default 10 min */
  bootTimeoutMs?: number;
  /** from then until SSH is ready; default 5 min (cloud-init runs the user data after boot) */
  readyTimeoutMs?: number;
  /** between DescribeInstances calls while booting; default 2 s */
  pollMs?: number;
  /** the agent's log, for what happens outside any job (the warm pool) */
  log?: (line: string) => void;
}

export interface AwsVmProvider extends VmProvider {
  readonly name: 'aws';
  /** Boots warm instances of what `request` names, up to settings.warmPool; returns at once. */
  warm(request: Pick<VmRequest, 'image' | 'resourceClass' | 'purpose'>): void;
  /** Resolves when no warm instance is being booted or ended. */
  settled(): Promise<void>;
  /** Terminates the warm instances and closes the EC2 client (when the agent stops). */
  close(): Promise<void>;
}

/** What a job asks for, resolved to EC2's terms. */
interface MachineKind {
  imageName: string;
  ami: string;
  resourceClass: string;
  instanceType: string;
  purpose: VmRequest['purpose'];
}

const SSH_PORT = 22;
/** a warm VM is checked again when taken; it answered before, so this is short */
const RECHECK_TIMEOUT_MS = 30_000;

export function awsProvider(settings: AwsVmSettings, env: AgentEnvironment, options: AwsProviderOptions = {}): AwsVmProvider {
  return new AwsProvider(settings, env, options);
}

class AwsProvider implements AwsVmProvider {
  readonly name = 'aws' as const;
  private readonly ec2: Ec2Instances;
  private readonly pool: WarmPool<MachineKind>;
  private readonly waitReady: ReadinessCheck;
  private readonly log: (line: string) => void;
  /** ends the warm pool's boots under way when the provider is closed */
  private readonly closing = new AbortController();

  constructor(
    private readonly settings: AwsVmSettings,
    env: AgentEnvironment,
    private readonly options: AwsProviderOptions,
  ) {
    this.ec2 = new Ec2Instances(settings.region, env);
    this.waitReady = options.waitReady ?? ((vm, o) => waitForSsh(vm.access, o));
    this.log = options.log ?? (() => undefined);
    this.pool = new WarmPool<MachineKind>(settings.warmPool ?? 0, {
      boot: (kind) => this.boot(kind, 'warm', undefined, this.closing.signal),
      discard: (id) => this.ec2.terminate([id]),
      keyOf: (kind) => `${kind.imageName}=${kind.ami} ${kind.resourceClass}=${kind.instanceType} ${kind.purpose}`,
      log: (line) => this.log(`aws provider (region ${settings.region}): ${line}`),
    });
  }

  async acquire(request: VmRequest): Promise<Vm> {
    const kind = this.kindOf(request);
    const vm = (await this.takeWarm(kind, request)) ?? (await this.boot(kind, request.purpose, request.owner, request.signal));
    this.pool.topUp(kind);
    return this.handOver(vm);
  }

  async list(): Promise<VmRecord[]> {
    return (await this.ec2.listManaged()).map(recordOf).filter((r): r is VmRecord => r !== undefined);
  }

  async reap(olderThanMs: number): Promise<string[]> {
    const now = Date.now();
    const old = (await this.list()).filter((r) => now - r.since > olderThanMs).map((r) => r.id);
    await this.ec2.terminate(old);
    this.pool.forget(new Set(old));
    return old;
  }

  warm(request: Pick<VmRequest, 'image' | 'resourceClass' | 'purpose'>): void {
    const kind = this.kindOf(request);
    const room = this.pool.size - this.pool.count;
    for (let i = 0; i < room; i++) this.pool.topUp(kind);
  }

  settled(): Promise<void> {
    return this.pool.settled();
  }

  async close(): Promise<void> {
    this.closing.abort();
    try {
      await this.pool.drain();
    } finally {
      this.ec2.destroy();
    }
  }

  private kindOf(request: Pick<VmRequest, 'image' | 'resourceClass' | 'purpose'>): MachineKind {
    const imageName = request.image ?? 'default';
    const ami = Object.hasOwn(this.settings.images, imageName) ? this.settings.images[imageName] : undefined;
    if (ami === undefined) {
      const known = Object.keys(this.settings.images);
      throw new InfrastructureError(
        `aws provider (region ${this.settings.region}): no AMI for machine image "${imageName}"; add it to "images" in --machine-aws-config (known: ${known.join(', ')}${known.includes('default') ? '' : '; "default" is used for machine: true'})`,
      );
    }
    const instanceType = instanceTypeFor(request.resourceClass, this.settings.instanceTypes, this.settings.region);
    return { imageName, ami, resourceClass: request.resourceClass, instanceType, purpose: request.purpose };
  }

  /** A warm VM of `kind`, re-tagged to the job and checked again; undefined to boot one instead. */
  private async takeWarm(kind: MachineKind, request: VmRequest): Promise<WarmVm | undefined> {
    for (let taken = this.pool.take(kind); taken !== undefined; taken = this.pool.take(kind)) {
      const vm = await untilAborted(taken.ready, request.signal);
      if (vm === 'aborted') {
        taken.giveBack();
        throw this.canceled('while a warm instance was booting');
      }
      if (vm === undefined) continue;
      try {
        // re-tagged first: from here on the instance is the job's, and the reaper counts from now.
        // ManagedBy stays as it is: the IAM policy lets the agent set deckhand:* and Name only
        await this.ec2.tag(vm.id, instanceTags(kind.purpose, request.owner, kind, Date.now()).filter((t) => t.Key !== MANAGED_BY));
      } catch (error) {
        await this.ec2.terminate([vm.id]).catch(() => undefined);
        throw error;
      }
      try {
        await this.waitReady(vm, { timeoutMs: RECHECK_TIMEOUT_MS, signal: request.signal });
        return vm;
      } catch (error) {
        await this.ec2.terminate([vm.id]).catch(() => undefined);
        if (request.signal?.aborted) throw this.canceled(`while checking warm instance ${vm.id}; it was terminated`);
        this.log(`aws provider (region ${this.settings.region}): warm instance ${vm.id} no longer answers (${reasonOf(error)}); terminated, trying another`);
      }
    }
    return undefined;
  }

  /**
   * Launches one instance of `kind` and waits until it is ready; on any failure or abort the
   * instance is terminated before this throws.
   */
  private async boot(kind: MachineKind, purpose: Purpose, owner: VmRequest['owner'] | undefined, signal: AbortSignal | undefined): Promise<WarmVm> {
    if (signal?.aborted) throw this.canceled('before launching an instance');
    const keys = await freshVmKeys(owner?.jobId ?? 'warm');
    const id = await this.ec2.launch({
      ami: kind.ami,
      imageName: kind.imageName,
      instanceType: kind.instanceType,
      subnetId: this.settings.subnetId,
      securityGroupIds: this.settings.securityGroupIds,
      publicAddress: this.settings.address === 'public',
      userData: userDataScript(keys, kind.purpose),
      tags: instanceTags(purpose, owner, kind, Date.now()),
    });
    let stage = 'booting';
    let host = '';
    try {
      if (signal?.aborted) throw new Error('canceled');
      host = await this.ec2.waitForAddress(id, {
        address: this.settings.address ?? 'private',
        timeoutMs: this.options.bootTimeoutMs ?? 600_000,
        pollMs: this.options.pollMs ?? 2_000,
        signal,
      });
      if (signal?.aborted) throw new Error('canceled');
      stage = 'waiting for SSH';
      const access: VmAccess = { host, port: SSH_PORT, user: VM_USER, privateKey: keys.loginPrivateKey, hostKey: keys.hostPublicKey };
      await this.waitReady({ id, access }, { timeoutMs: this.options.readyTimeoutMs ?? 300_000, signal });
      return { id, access };
    } catch (error) {
      const ended = await this.ec2.terminate([id]).then(
        () => 'it was terminated',
        (failure: unknown) => `terminating it failed too (${reasonOf(failure)}); the reaper will end it`,
      );
      const where = `aws provider (region ${this.settings.region})`;
      if (signal?.aborted) throw new InfrastructureError(`${where}: canceled while ${stage} (instance ${id}); ${ended}`);
      if (stage === 'waiting for SSH') {
        const readyMs = this.options.readyTimeoutMs ?? 300_000;
        const why = error instanceof SshNotReady ? ` within ${Math.round(readyMs / 1000)} s: ${error.reason}` : `: ${reasonOf(error)}`;
        throw new InfrastructureError(
          `${where}: instance ${id} (${host}) was not ready for SSH${why}; ${ended}. Check that its security groups let the agent reach port 22 and that the AMI runs user data with cloud-init (see its console output)`,
        );
      }
      throw new InfrastructureError(`${reasonOf(error)}; ${ended}`, { cause: error });
    }
  }

  private handOver(vm: WarmVm): Vm {
    let released: Promise<void> | undefined;
    const region = this.settings.region;
    return {
      id: vm.id,
      access: vm.access,
      release: () => {
        released ??= this.ec2.terminate([vm.id]).catch((error: unknown) => {
          released = undefined; // a later call tries again
          throw new InfrastructureError(`aws provider (region ${region}): could not terminate instance ${vm.id} (${reasonOf(error)}); the reaper will end it, or end it yourself`);
        });
        return released;
      },
    };
  }

  private canceled(when: string): InfrastructureError {
    return new InfrastructureError(`aws provider (region ${this.settings.region}): canceled ${when}`);
  }
}

/** `work`'s value, or 'aborted' as soon as `signal` fires (work goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | 'aborted'> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
}

/** The aws provider for an assignment's machine settings (the provider table's entry). */
export function awsVmProviderFor(settings: MachineSettings, ctx: VmProviderContext): AwsVmProvider {
  if (!settings.aws) throw new UsageError('the aws machine provider needs its settings (--machine-aws-config FILE, or runtime.machine.aws); docs/machine.md shows them');
  return awsProvider(settings.aws, ctx.env, ctx.log ? { log: (line) => ctx.log?.log('info', line) } : {});
}
