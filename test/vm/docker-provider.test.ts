/**
 * The docker VM provider against the real engine, with the VM's real sshd and dockerd: what a job
 * gets, that the host key is the VM's own and nothing else is accepted (by ssh2 and by OpenSSH's
 * client), that release and reap leave nothing, and that a failed start removes what it made.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import ssh2 from 'ssh2';
import { InfrastructureError } from '../../agent/errors.js';
import { DockerVmProvider } from '../../agent/vm/docker-provider.js';
import { VM_JOB_LABEL, VM_RUN_LABEL, VM_SINCE_LABEL } from '../../agent/vm/docker-vm-spec.js';
import { login, SshLoginError } from '../../agent/vm/ssh-login.js';
import { BUSYBOX, removeScope, scopeLeftovers, sshRun, uniqueScope, vmEngine, vmRequest } from './vm-fixture.js';

const run = promisify(execFile);

describe('DockerVmProvider', { timeout: 300_000 }, () => {
  let docker: Docker;
  const scope = uniqueScope('docker-vm');
  const provider = new DockerVmProvider({ scope });

  before(async () => {
    docker = await vmEngine();
  });
  after(async () => {
    await removeScope(docker, scope);
  });

  it('gives a VM where circleci logs in, has passwordless sudo and the docker CLI; release removes it', async () => {
    const request = vmRequest(scope);
    const vm = await provider.acquire(request);
    const result = await sshRun(vm.access, 'id -un; sudo -n true && echo sudo; docker --version');
    assert.equal(result.code, 0, result.stderr);
    const [user, sudo, dockerVersion] = result.stdout.trim().split('\n');
    assert.equal(user, 'circleci');
    assert.equal(sudo, 'sudo');
    assert.match(dockerVersion ?? '', /^Docker version \d+\./);
    assert.equal(vm.access.host, '127.0.0.1');
    assert.equal(vm.access.jobAddress, undefined);

    const info = await docker.getContainer(vm.id).inspect();
    assert.equal(info.Config.Labels[VM_JOB_LABEL], request.owner.jobId);
    assert.equal(info.Config.Labels[VM_RUN_LABEL], request.owner.runId);
    assert.ok(Math.abs(Number(info.Config.Labels[VM_SINCE_LABEL]) - Date.now()) < 60_000);
    assert.deepEqual(info.HostConfig.PortBindings?.['22/tcp'], [{ HostIp: '127.0.0.1', HostPort: '' }]);

    await vm.release();
    await vm.release(); // idempotent
    assert.deepEqual(await scopeLeftovers(docker, scope), []);
  });

  it('reports the host key the VM holds, and a client expecting another key is refused', async () => {
    const vm = await provider.acquire(vmRequest(scope));
    try {
      const onDisk = await sshRun(vm.access, 'cat /etc/ssh/ssh_host_ed25519_key.pub; ls /etc/ssh | grep -c "^ssh_host_.*_key$"');
      const [line, keyCount] = onDisk.stdout.trim().split('\n');
      assert.equal(line?.split(' ').slice(0, 2).join(' '), vm.access.hostKey);
      assert.equal(keyCount, '1', 'one host key, the installed one');

      const other = ssh2.utils.generateKeyPairSync('ed25519').public;
      await assert.rejects(login({ ...vm.access, hostKey: other }, 10_000), (error: unknown) => {
        assert.ok(error instanceof SshLoginError);
        assert.equal(error.reason, 'host-key');
        assert.match(error.message, /presented host key SHA256:\S+, not the expected SHA256:\S+; refused/);
        return true;
      });
      // another login key is refused too (public-key login with the VM's own key only)
      const stranger = { ...vm.access, privateKey: Buffer.from(ssh2.utils.generateKeyPairSync('ed25519').private) };
      await assert.rejects(login(stranger, 10_000), (error: unknown) => error instanceof SshLoginError && error.reason === 'auth');
    } finally {
      await vm.release();
    }
  });

  it("logs in with OpenSSH's client, the reported host key in known_hosts and strict checking", async () => {
    const vm = await provider.acquire(vmRequest(scope));
    const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-vm-ssh-'));
    try {
      const key = path.join(dir, 'id');
      await writeFile(key, vm.access.privateKey, { mode: 0o600 });
      const ssh = (knownHosts: string) => [
        '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
        '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null',
        '-p', String(vm.access.port), `${vm.access.user}@${vm.access.host}`, 'echo logged in as $(id -un)',
      ];
      const known = path.join(dir, 'known_hosts');
      await writeFile(known, `[${vm.access.host}]:${vm.access.port} ${vm.access.hostKey}\n`);
      const { stdout } = await run('ssh', ssh(known), { timeout: 20_000 });
      assert.equal(stdout.trim(), 'logged in as circleci');

      const wrong = path.join(dir, 'wrong_known_hosts');
      await writeFile(wrong, `[${vm.access.host}]:${vm.access.port} ${ssh2.utils.generateKeyPairSync('ed25519').public}\n`);
      await assert.rejects(run('ssh', ssh(wrong), { timeout: 20_000 }), (error: { code?: number; stderr?: string }) => {
        assert.equal(error.code, 255);
        assert.match(error.stderr ?? '', /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
      await vm.release();
    }
  });

  it('list and reap find the VM of an owner that crashed (its handle dropped)', async () => {
    const crashedScope = uniqueScope('crashed');
    const crashed = new DockerVmProvider({ scope: crashedScope });
    try {
      const request = vmRequest(crashedScope);
      const { id } = await crashed.acquire(request); // handle dropped: never released
      const sweeper = new DockerVmProvider({ scope: crashedScope }); // another agent, later
      const listed = await sweeper.list();
      assert.deepEqual(listed.map((vm) => ({ id: vm.id, owner: vm.owner })), [{ id, owner: request.owner }]);
      assert.deepEqual(await sweeper.reap(60 * 60_000), [], 'younger than an hour: kept');
      assert.deepEqual(await sweeper.reap(0), [id]);
      assert.deepEqual(await sweeper.list(), []);
      assert.deepEqual(await scopeLeftovers(docker, crashedScope), []);
    } finally {
      await removeScope(docker, crashedScope);
    }
  });

  it('runs a Docker engine inside for remote Docker: `docker info` works over SSH as circleci', async () => {
    const vm = await provider.acquire(vmRequest(scope, { purpose: 'remote-docker' }));
    try {
      const result = await sshRun(vm.access, "docker info --format '{{.Driver}} {{.ServerVersion}}'; sudo -n findmnt -n -o FSTYPE /var/lib/docker");
      assert.equal(result.code, 0, result.stderr);
      const [engine, dataFs] = result.stdout.trim().split('\n');
      assert.match(engine ?? '', /^vfs \d+\./);
      assert.equal(dataFs, 'tmpfs');
    } finally {
      await vm.release();
    }
    assert.deepEqual(await scopeLeftovers(docker, scope), []);
  });

  it("joins the job's network: a container there reaches its sshd at jobAddress:22", async () => {
    const network = await docker.createNetwork({ Name: `${scope}-net`, Labels: { 'com.deckhand.test': scope } });
    try {
      const vm = await provider.acquire(vmRequest(scope, { jobNetwork: `${scope}-net` }));
      try {
        assert.match(vm.access.jobAddress ?? '', /^\d+\.\d+\.\d+\.\d+$/);
        const probe = await docker.createContainer({
          Image: BUSYBOX,
          Cmd: ['sh', '-c', `echo | nc -w 5 ${vm.access.jobAddress} 22 | head -c 8`],
          Labels: { [VM_JOB_LABEL]: scope, 'com.deckhand.vm.scope': scope },
          HostConfig: { NetworkMode: `${scope}-net` },
        });
        try {
          await probe.start();
          await probe.wait();
          const logs = (await probe.logs({ stdout: true, stderr: true })).toString('latin1');
          assert.match(logs, /SSH-2\.0/);
        } finally {
          await probe.remove({ force: true });
        }
        // and the agent still reaches it on loopback
        assert.equal((await sshRun(vm.access, 'true')).code, 0);
      } finally {
        await vm.release();
      }
    } finally {
      await network.remove();
    }
  });

  it('caps CPUs and memory at what the machine has, and says so', async () => {
    const vm = await provider.acquire(vmRequest(scope, { resourceClass: '2xlarge', cpus: 1024, memoryMb: 1024 }));
    try {
      const info = await docker.getContainer(vm.id).inspect();
      assert.equal(info.HostConfig.NanoCpus, availableParallelism() * 1e9);
      assert.equal(info.HostConfig.Memory, 1024 * 1048576);
      assert.match(vm.notes?.join('\n') ?? '', new RegExp(`resource_class 2xlarge asks for 1024 CPUs .* so the VM gets ${availableParallelism()} CPUs and 1024 MB`));
    } finally {
      await vm.release();
    }
  });

  it('on a failed start, says why in one line and leaves nothing', async () => {
    await assert.rejects(provider.acquire(vmRequest(scope, { jobNetwork: `${scope}-no-such-network` })), (error: unknown) => {
      assert.ok(error instanceof InfrastructureError);
      assert.match(error.message, /no-such-network/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
    const missing = new DockerVmProvider({ scope, image: 'deckhand-test/vm:no-such-tag' });
    await assert.rejects(missing.acquire(vmRequest(scope)), /the VM image deckhand-test\/vm:no-such-tag is not on the Docker engine; build it with: make images/);
    // an image without sshd: the container stops, and the wait ends then, not at the timeout
    const started = Date.now();
    const noSshd = new DockerVmProvider({ scope, image: BUSYBOX });
    await assert.rejects(noSshd.acquire(vmRequest(scope)), /it stopped with exit code \d+/);
    assert.ok(Date.now() - started < 20_000, 'did not wait for the SSH timeout');
    assert.deepEqual(await scopeLeftovers(docker, scope), []);
  });
});
