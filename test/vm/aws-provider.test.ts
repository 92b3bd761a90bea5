// The aws VM provider with the real AWS SDK against moto's EC2 server on loopback
// (test/vm/ec2-fixture.ts). moto boots nothing, so the VM's sshd is a container that runs the user
// data moto stored for the instance (test/vm/sshd-container.ts); the readiness check is the real
// one (waitForSsh, ssh2) pointed at that container, and OpenSSH's client checks the host key too.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { AwsVmSettings } from '../../agent/assignment/assignment.js';
import { InfrastructureError } from '../../agent/errors.js';
import { awsProvider, type AwsProviderOptions, type ReadinessCheck } from '../../agent/vm/aws-provider.js';
import { JOB_TAG, PURPOSE_TAG, RUN_TAG, SINCE_TAG } from '../../agent/vm/aws/tags.js';
import type { VmAccess, VmRequest } from '../../agent/vm/provider.js';
import { parseHostKey } from '../../agent/vm/host-key.js';
import { waitForSsh } from '../../agent/vm/ssh-ready.js';
import { freePort } from '../support/free-port.js';
import { describeInstance, instancesTagged, launchForeignInstance, REGION, startEc2World, stateOf, tagsOf, terminateInstance, userDataOf, type Ec2World } from './ec2-fixture.js';
import { removeLabelled, startSshd, type SshdContainer } from './sshd-container.js';

const run = promisify(execFile);
const ssh2 = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
const LABEL = `aws-provider-${randomBytes(4).toString('hex')}`;
const GONE = ['shutting-down', 'terminated'];

let world: Ec2World;

before(async () => {
  world = await startEc2World();
});

after(async () => {
  await removeLabelled(LABEL);
  await world?.stop();
});

function settings(extra: Partial<AwsVmSettings> = {}): AwsVmSettings {
  return {
    region: REGION,
    subnetId: world.subnetId,
    securityGroupIds: world.securityGroupIds,
    images: { default: world.amis[0], 'ubuntu-2204:current': world.amis[1] },
    ...extra,
  };
}

function request(name: string, extra: Partial<VmRequest> = {}): VmRequest {
  const id = randomBytes(3).toString('hex');
  return { image: 'ubuntu-2204:current', resourceClass: 'large', cpus: 4, memoryMb: 15360, purpose: 'machine', owner: { jobId: `${name}-${id}`, runId: `run-${id}` }, ...extra };
}

/** Every readiness check the provider asked for, and the container that answered it. */
interface Checked {
  id: string;
  access: VmAccess;
  container: SshdContainer;
}

/**
 * The real readiness check (ssh2 login, host key compared) against a container that ran the
 * instance's stored user data: one container per instance, reused when a warm VM is checked again.
 */
function sshdFromUserData(checked: Checked[]): ReadinessCheck {
  const containers = new Map<string, Promise<SshdContainer>>();
  return async (vm, options) => {
    let container = containers.get(vm.id);
    if (container === undefined) {
      container = userDataOf(world, vm.id).then((script) => startSshd(LABEL, script));
      containers.set(vm.id, container);
    }
    const c = await container;
    checked.push({ id: vm.id, access: vm.access, container: c });
    await waitForSsh({ ...vm.access, host: '127.0.0.1', port: c.port }, options);
  };
}

function provider(extra: Partial<AwsVmSettings>, options: AwsProviderOptions) {
  // short deadlines, so that a VM that never gets ready fails the test in seconds
  return awsProvider(settings(extra), world.env, { pollMs: 50, bootTimeoutMs: 20_000, readyTimeoutMs: 20_000, ...options });
}

async function stateNow(id: string): Promise<string> {
  return stateOf(await describeInstance(world, id));
}

/** The instances EC2 holds for a job, any state. */
async function jobInstances(jobId: string): Promise<string[]> {
  return (await instancesTagged(world, JOB_TAG, jobId)).map((i) => i.InstanceId as string);
}

function assertOneLine(error: unknown, ...patterns: RegExp[]): true {
  assert.ok(error instanceof InfrastructureError, `not an InfrastructureError: ${String(error)}`);
  assert.doesNotMatch(error.message, /\n/);
  assert.match(error.message, new RegExp(`region ${REGION}`));
  for (const p of patterns) assert.match(error.message, p);
  return true;
}

describe('aws provider: launch and release', () => {
  it('launches the AMI, type, subnet and groups asked for, tags it, and hands over a VM whose sshd has the reported key', async () => {
    const checked: Checked[] = [];
    const aws = provider({}, { waitReady: sshdFromUserData(checked) });
    const req = request('launch');
    const vm = await aws.acquire(req);
    try {
      const instance = await describeInstance(world, vm.id);
      assert.equal(instance.ImageId, world.amis[1], 'the AMI of machine image ubuntu-2204:current');
      assert.equal(instance.InstanceType, 'm5.xlarge', 'the built-in type of resource class large');
      assert.equal(instance.SubnetId, world.subnetId);
      assert.deepEqual((instance.SecurityGroups ?? []).map((g) => g.GroupId), world.securityGroupIds);
      assert.equal(stateOf(instance), 'running');
      assert.equal(instance.MetadataOptions?.HttpTokens, 'required');
      const tags = tagsOf(instance);
      assert.equal(tags.ManagedBy, 'deckhand');
      assert.equal(tags[JOB_TAG], req.owner.jobId);
      assert.equal(tags[RUN_TAG], req.owner.runId);
      assert.equal(tags[PURPOSE_TAG], 'machine');
      assert.match(tags.Name ?? '', new RegExp(req.owner.jobId));
      assert.ok(Math.abs(Number(tags[SINCE_TAG]) - Date.now()) < 60_000);

      assert.equal(vm.access.host, instance.PrivateIpAddress, 'the private address by default');
      assert.equal(vm.access.port, 22);
      assert.equal(vm.access.user, 'circleci');
      assert.equal(checked.length, 1);

      // the user data holds the host key pair whose public half was handed over, and the public
      // half of the login key that was handed over
      const script = await userDataOf(world, vm.id);
      assert.match(script, /^#!\/bin\/sh\n/);
      const hostPrivate = /-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]*?-----END OPENSSH PRIVATE KEY-----/.exec(script)?.[0];
      assert.ok(hostPrivate, 'a host private key in the user data');
      const parsedHost = ssh2.utils.parseKey(hostPrivate);
      assert.ok(!(parsedHost instanceof Error) && !Array.isArray(parsedHost));
      assert.ok(parsedHost.getPublicSSH().equals(parseHostKey(vm.access.hostKey).blob), 'the host key in the user data is the one reported');
      assert.ok(script.includes(`'${vm.access.hostKey}' > /etc/ssh/ssh_host_ed25519_key.pub`));
      const authorized = /'(ssh-ed25519 [^']+)' > "\$home\/\.ssh\/authorized_keys"/.exec(script)?.[1];
      assert.ok(authorized, 'an authorized key in the user data');
      const login = ssh2.utils.parseKey(vm.access.privateKey);
      assert.ok(!(login instanceof Error) && !Array.isArray(login));
      assert.ok(login.getPublicSSH().equals(parseHostKey(authorized).blob), 'the authorized key matches the private key handed over');
      assert.doesNotMatch(script, /(systemctl enable --now|service) docker/, 'a machine VM does not start a Docker engine itself');

      // OpenSSH's client, with only the reported host key known, logs in as circleci
      const port = checked[0]?.container.port as number;
      const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-aws-ssh-'));
      try {
        await writeFile(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${vm.access.hostKey}\n`);
        await writeFile(path.join(dir, 'key'), vm.access.privateKey, { mode: 0o600 });
        const { stdout } = await run('ssh', [
          '-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`,
          '-o', 'HostKeyAlgorithms=ssh-ed25519', '-i', path.join(dir, 'key'), '-p', String(port), 'circleci@127.0.0.1', 'id -un',
        ]);
        assert.equal(stdout.trim(), 'circleci');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }

      assert.ok((await aws.list()).some((r) => r.id === vm.id && r.owner?.jobId === req.owner.jobId));
    } finally {
      await vm.release();
    }
    assert.ok(GONE.includes(await stateNow(vm.id)), 'terminated on release');
    await vm.release(); // idempotent
    assert.ok(!(await aws.list()).some((r) => r.id === vm.id), 'no longer listed');
    await aws.close();
  });

  it('takes the instance type from instanceTypes over the built-in table, and the public address when asked', async () => {
    const seen: VmAccess[] = [];
    // the SSH side of a launch is the test above's; here only what is launched and reached matters
    const aws = provider({ instanceTypes: { medium: 't3.large' }, address: 'public' }, { waitReady: async (vm) => void seen.push(vm.access) });
    const vm = await aws.acquire(request('public', { image: undefined, resourceClass: 'medium', purpose: 'remote-docker' }));
    try {
      const instance = await describeInstance(world, vm.id);
      assert.equal(instance.ImageId, world.amis[0], 'the "default" AMI when no image is named');
      assert.equal(instance.InstanceType, 't3.large');
      assert.ok(instance.PublicIpAddress, 'a public address');
      assert.equal(vm.access.host, instance.PublicIpAddress);
      assert.deepEqual(seen.map((a) => a.host), [instance.PublicIpAddress]);
      assert.deepEqual((instance.NetworkInterfaces?.[0]?.Groups ?? []).map((g) => g.GroupId), world.securityGroupIds);
      assert.equal(tagsOf(instance)[PURPOSE_TAG], 'remote-docker');
      const script = await userDataOf(world, vm.id);
      assert.match(script, /systemctl enable --now docker/, 'a remote engine starts its Docker engine');
      assert.ok(script.indexOf('docker') < script.indexOf('restart ssh'), 'before sshd answers with the VM key');
    } finally {
      await vm.release();
      await aws.close();
    }
    assert.ok(GONE.includes(await stateNow(vm.id)));
  });
});

describe('aws provider: failure and cancel end the instance', () => {
  it('refuses a VM whose sshd presents another host key, and terminates it', async () => {
    const aws = provider(
      {},
      {
        // long enough for the impostor's container to start on a loaded machine: it must answer
        // before the deadline for its key to be the reason
        readyTimeoutMs: 10_000,
        // an impostor: it accepts the VM's login key, but its host key is another; only the host
        // key check stands between the agent and it
        waitReady: async (vm, options) => {
          const impostor = 'rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key; service ssh restart\n';
          const c = await startSshd(LABEL, (await userDataOf(world, vm.id)) + impostor);
          await waitForSsh({ ...vm.access, host: '127.0.0.1', port: c.port }, { ...options, retryMs: 200 });
        },
      },
    );
    const req = request('wrongkey');
    await assert.rejects(aws.acquire(req), (e) => assertOneLine(e, /was not ready for SSH within 10 s/, /another host key/, /it was terminated/, /port 22/));
    const [id] = await jobInstances(req.owner.jobId);
    assert.ok(id, 'an instance was launched');
    assert.ok(GONE.includes(await stateNow(id)));
    await aws.close();
  });

  it('terminates the instance when the readiness check throws', async () => {
    const aws = provider({}, { waitReady: () => Promise.reject(new Error('sshd said no')) });
    const req = request('failing');
    await assert.rejects(aws.acquire(req), (e) => assertOneLine(e, /sshd said no/, /it was terminated/));
    const ids = await jobInstances(req.owner.jobId);
    assert.equal(ids.length, 1);
    assert.ok(GONE.includes(await stateNow(ids[0] as string)));
    await aws.close();
  });

  it('terminates the instance when the job is canceled while it waits for SSH', async () => {
    // the real check against a port where nothing listens: it retries until the abort
    const closed = await freePort();
    const aws = provider({}, { waitReady: (vm, options) => waitForSsh({ ...vm.access, host: '127.0.0.1', port: closed }, { ...options, retryMs: 100 }) });
    const controller = new AbortController();
    const req = request('cancel', { signal: controller.signal });
    const acquiring = aws.acquire(req);
    let ids: string[] = [];
    for (let i = 0; i < 200 && ids.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ids = await jobInstances(req.owner.jobId);
    }
    assert.equal(ids.length, 1, 'an instance was launched');
    const abortedAt = Date.now();
    controller.abort();
    await assert.rejects(acquiring, (e) => assertOneLine(e, /canceled while waiting for SSH/, /it was terminated/));
    assert.ok(Date.now() - abortedAt < 5_000, 'gave up at once');
    assert.ok(GONE.includes(await stateNow(ids[0] as string)));
    await aws.close();
  });

  it('launches nothing for a job already canceled', async () => {
    const controller = new AbortController();
    controller.abort();
    const aws = provider({}, { waitReady: async () => undefined });
    const req = request('precanceled', { signal: controller.signal });
    await assert.rejects(aws.acquire(req), (e) => assertOneLine(e, /canceled before launching/));
    assert.deepEqual(await jobInstances(req.owner.jobId), []);
    await aws.close();
  });
});

describe('aws provider: settings and EC2 refusals are one line saying what to fix', () => {
  it('names the known machine images and resource classes when one is missing, launching nothing', async () => {
    const aws = provider({}, { waitReady: async () => undefined });
    const noImage = request('noimage', { image: 'android:2024.01.1' });
    await assert.rejects(aws.acquire(noImage), (e) => assertOneLine(e, /no AMI for machine image "android:2024\.01\.1"/, /"images" in --machine-aws-config/, /known: default, ubuntu-2204:current/));
    const noClass = request('noclass', { resourceClass: 'gpu.nvidia.small' });
    await assert.rejects(aws.acquire(noClass), (e) => assertOneLine(e, /no instance type for resource class "gpu\.nvidia\.small"/, /"instanceTypes"/, /medium, large/));
    assert.deepEqual([...(await jobInstances(noImage.owner.jobId)), ...(await jobInstances(noClass.owner.jobId))], []);
    await aws.close();
  });

  it('says which AMI, subnet or endpoint EC2 refused', async () => {
    const ok = async (): Promise<void> => undefined;
    const badAmi = awsProvider(settings({ images: { default: 'ami-0000000000deadbee' } }), world.env, { waitReady: ok });
    await assert.rejects(badAmi.acquire(request('badami', { image: undefined })), (e) => assertOneLine(e, /AMI ami-0000000000deadbee \(machine image "default"\) cannot be launched \(InvalidAMIID/, /fix "images"/));
    await badAmi.close();
    const badSubnet = awsProvider(settings({ subnetId: 'subnet-0000000000000dead' }), world.env, { waitReady: ok });
    await assert.rejects(badSubnet.acquire(request('badsubnet')), (e) => assertOneLine(e, /subnet subnet-0000000000000dead cannot be used \(InvalidSubnetID\.NotFound\)/, /fix "subnetId"/));
    await badSubnet.close();
    const badGroup = awsProvider(settings({ securityGroupIds: ['sg-0000000000000dead'] }), world.env, { waitReady: ok });
    await assert.rejects(badGroup.acquire(request('badgroup')), (e) => assertOneLine(e, /security groups sg-0000000000000dead cannot be used/, /fix "securityGroupIds"/));
    await badGroup.close();
    const badType = awsProvider(settings({ instanceTypes: { large: 'm5.huge' } }), world.env, { waitReady: ok });
    await assert.rejects(badType.acquire(request('badtype')), (e) => assertOneLine(e, /instance type m5\.huge cannot be launched here/, /"instanceTypes"/));
    await badType.close();
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const nowhere = awsProvider(settings(), { ...world.env, AWS_ENDPOINT_URL_EC2: endpoint }, { waitReady: ok });
    await assert.rejects(nowhere.acquire(request('nowhere')), (e) => assertOneLine(e, new RegExp(`cannot reach EC2 at ${endpoint} \\(ECONNREFUSED\\)`)));
    await nowhere.close();
    assert.throws(() => awsProvider(settings(), { AWS_ACCESS_KEY_ID: 'only-the-id' }), (e) => assertOneLine(e, /set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/));
  });
});

describe('aws provider: the reaper', () => {
  it('ends a leaked instance, and leaves younger ones and instances Deckhand did not launch', async () => {
    const checked: Checked[] = [];
    const foreign = await launchForeignInstance(world);
    const aws = provider({}, { waitReady: sshdFromUserData(checked) });
    // a job's VM its agent never released (the agent died)
    const leaked = await aws.acquire(request('leaked'));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const young = await aws.acquire(request('young', { resourceClass: 'medium' }));
    try {
      const records = await aws.list();
      const now = Date.now();
      const age = (id: string): number => now - (records.find((r) => r.id === id)?.since ?? now);
      assert.ok(!records.some((r) => r.id === foreign), 'only Deckhand instances are listed');
      assert.ok(age(leaked.id) - age(young.id) > 1_000);
      const reaped = await aws.reap((age(leaked.id) + age(young.id)) / 2);
      assert.ok(reaped.includes(leaked.id));
      assert.ok(!reaped.includes(young.id) && !reaped.includes(foreign));
      assert.ok(GONE.includes(await stateNow(leaked.id)));
      assert.equal(await stateNow(young.id), 'running');
      assert.equal(await stateNow(foreign), 'running');
    } finally {
      await young.release();
      await leaked.release();
      await aws.close();
      await terminateInstance(world, foreign);
    }
  });
});

describe('aws provider: the warm pool', () => {
  it('hands a warm instance to the next job of its kind, re-tagged, and boots a replacement', async () => {
    const checked: Checked[] = [];
    const lines: string[] = [];
    const aws = provider({ warmPool: 1 }, { waitReady: sshdFromUserData(checked), log: (line) => lines.push(line) });
    const runningWarm = async (): Promise<string[]> =>
      (await instancesTagged(world, PURPOSE_TAG, 'warm')).filter((i) => stateOf(i) === 'running').map((i) => i.InstanceId as string);
    try {
      aws.warm({ resourceClass: 'medium', purpose: 'machine' });
      await aws.settled();
      const [warm, ...more] = await runningWarm();
      assert.ok(warm && more.length === 0, 'one warm instance');
      const warmTags = tagsOf(await describeInstance(world, warm));
      assert.equal(warmTags[JOB_TAG], undefined);
      assert.equal(checked.filter((c) => c.id === warm).length, 1, 'checked once booted');

      const req = request('warm', { image: undefined, resourceClass: 'medium' });
      const vm = await aws.acquire(req);
      assert.equal(vm.id, warm, 'the warm instance was taken');
      const tags = tagsOf(await describeInstance(world, vm.id));
      assert.equal(tags[JOB_TAG], req.owner.jobId);
      assert.equal(tags[PURPOSE_TAG], 'machine');
      assert.ok(Number(tags[SINCE_TAG]) > Number(warmTags[SINCE_TAG]), 'the reaper counts from the hand-over');
      assert.equal(checked.filter((c) => c.id === warm).length, 2, 'checked again when taken');
      assert.equal(checked.at(-1)?.access.hostKey, vm.access.hostKey);

      await aws.settled();
      const [refill, ...extra] = await runningWarm();
      assert.ok(refill && refill !== warm && extra.length === 0, 'a replacement was booted');
      const refillInstance = await describeInstance(world, refill);
      assert.equal(refillInstance.ImageId, world.amis[0]);
      assert.equal(refillInstance.InstanceType, 'm5.large');

      // another kind: booted for the job, and the pool turns to it
      const other = await aws.acquire(request('warm-other'));
      assert.notEqual(other.id, refill);
      await aws.settled();
      assert.ok(GONE.includes(await stateNow(refill)), 'the warm instance of the other kind was replaced');
      const [turned] = await runningWarm();
      assert.ok(turned);
      assert.equal((await describeInstance(world, turned)).InstanceType, 'm5.xlarge');
      assert.deepEqual(lines.map((l) => /warm pool: (\w+)/.exec(l)?.[1]), ['replacing'], 'the replacement is logged, and nothing failed');

      await vm.release();
      await other.release();
      assert.ok(GONE.includes(await stateNow(vm.id)), 'a taken warm instance is terminated after its job like any other');
    } finally {
      await aws.close();
    }
    assert.deepEqual(await runningWarm(), [], 'close() ends the warm pool');
  });

  it('ends the warm instances still booting when the provider is closed', async () => {
    const lines: string[] = [];
    const aws = provider({ warmPool: 2 }, { waitReady: sshdFromUserData([]), log: (line) => lines.push(line) });
    aws.warm({ resourceClass: 'xlarge', purpose: 'machine' });
    let booting: string[] = [];
    for (let i = 0; i < 200 && booting.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      booting = (await instancesTagged(world, 'deckhand:resource-class', 'xlarge')).map((i) => i.InstanceId as string);
    }
    assert.equal(booting.length, 2, 'two warm instances launched');
    await aws.close();
    for (const id of booting) assert.ok(GONE.includes(await stateNow(id)), `${id} terminated`);
    assert.deepEqual(lines, [], 'a canceled warm boot is not reported as a failure');
  });
});
