// Shared by the VM provider tests: the real engine with Deckhand's VM image, requests, and an SSH
// command over ssh2 that insists on the reported host key. A missing engine or image fails the
// tests; it never skips them.

import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { connectDocker } from '../../agent/executor/docker/engine.js';
import { DEFAULT_VM_IMAGE, VM_SCOPE_LABEL } from '../../agent/vm/docker-vm-spec.js';
import type { VmAccess, VmRequest } from '../../agent/vm/provider.js';
import { login, runCommand, type CommandResult } from '../../agent/vm/ssh-login.js';

export const BUSYBOX = 'deckhand-test/busybox:latest';

export async function vmEngine(): Promise<Docker> {
  const docker = connectDocker();
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`these tests need a running Docker engine (run scripts/ensure-docker.sh): ${String(error)}`);
  }
  for (const image of [DEFAULT_VM_IMAGE, BUSYBOX]) {
    await docker.getImage(image).inspect().catch(() => {
      throw new Error(`test image ${image} is missing; run scripts/build-test-images.sh`);
    });
  }
  return docker;
}

/** A scope (and job id) no other test uses, so that list and reap see only this test's VMs. */
export function uniqueScope(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

export function vmRequest(jobId: string, overrides: Partial<VmRequest> = {}): VmRequest {
  return { resourceClass: 'medium', cpus: 1, memoryMb: 2048, purpose: 'machine', owner: { jobId, runId: `run-${randomBytes(4).toString('hex')}` }, ...overrides };
}

/** Runs one command over a fresh, host-key-checked login. */
export async function sshRun(access: VmAccess, command: string): Promise<CommandResult> {
  const client = await login(access, 10_000);
  try {
    return await runCommand(client, command);
  } finally {
    client.end();
  }
}

/** Containers of a scope still on the engine (to prove that nothing was left behind). */
export async function scopeLeftovers(docker: Docker, scope: string): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${VM_SCOPE_LABEL}=${scope}`] }) });
  return containers.map((c) => `${c.Names.join(',')} (${c.State})`);
}

/** Removes whatever a failed test left in its scope. */
export async function removeScope(docker: Docker, scope: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${VM_SCOPE_LABEL}=${scope}`] }) });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {})));
}
