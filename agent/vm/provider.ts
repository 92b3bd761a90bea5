/**
 * VM providers: where the machines of `machine` jobs and of `setup_remote_docker` come from. One
 * small interface, so that the machine executor and the remote-Docker step never know whether a
 * VM is a local container (`docker`, the default for local runs and what the tests use), a host of
 * a static pool (`static`) or an EC2 instance (`aws`).
 *
 * A VM is reached over SSH with a key the provider hands back, and its host key is always checked
 * against the one the provider reports: never trust on first use.
 */

/** What a job asks for. */
export interface VmRequest {
  /** the machine image name (CircleCI's `machine.image`, e.g. `ubuntu-2204:current`); absent: the provider's default */
  image?: string;
  /** the resource class the job was scheduled with, and what it means */
  resourceClass: string;
  cpus: number;
  memoryMb: number;
  /** a `machine` job, or the engine of `setup_remote_docker` (then the VM must run a Docker engine) */
  purpose: 'machine' | 'remote-docker';
  /** who holds it: recorded on the VM (labels, tags, lock files) so that a reaper can tell whose it is */
  owner: { jobId: string; runId: string };
  /**
   * A Docker network of the job's (docker provider only): the VM is attached to it, so that the
   * job's containers reach it at `access.jobAddress`.
   */
  jobNetwork?: string;
  /** a named volume kept between jobs for the VM's Docker data (`docker_layer_caching`; docker provider) */
  dockerDataVolume?: string;
  /** gives up waiting (for a free host, a booting instance) */
  signal?: AbortSignal;
}

/** How to reach a VM. */
export interface VmAccess {
  /** address and SSH port the agent connects to */
  host: string;
  port: number;
  /** the user steps run as (`circleci` on Deckhand's VM image) */
  user: string;
  /** the private key that user accepts (PEM or OpenSSH format) */
  privateKey: Buffer;
  /** the VM's SSH host public key, `ssh-ed25519 AAAA…`: the connection is refused unless the VM presents it */
  hostKey: string;
  /** where the job's own containers reach the VM (remote Docker's DOCKER_HOST address); absent: `host` */
  jobAddress?: string;
}

export interface Vm {
  /** the provider's id of it (a container id, a pool host's name, an instance id) */
  id: string;
  access: VmAccess;
  /** lines for the job's output about what the provider changed (resources cut to what the machine has) */
  notes?: string[];
  /** Gives it back: removed, unlocked or terminated. Idempotent; safe on every path. */
  release(): Promise<void>;
}

/** A VM a provider knows of, for listing and reaping. */
export interface VmRecord {
  id: string;
  owner?: { jobId: string; runId: string };
  /** when it was acquired (epoch ms) */
  since: number;
}

export interface VmProvider {
  readonly name: VmProviderName;
  /** A ready VM: its sshd answers with the reported host key. Throws an InfrastructureError with one line on failure, having released what it got. */
  acquire(request: VmRequest): Promise<Vm>;
  /** The VMs this provider holds for Deckhand now. */
  list(): Promise<VmRecord[]>;
  /** Releases those held longer than `olderThanMs`; returns their ids. */
  reap(olderThanMs: number): Promise<string[]>;
}

export type VmProviderName = 'docker' | 'static' | 'aws';
