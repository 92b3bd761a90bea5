/**
 * The static VM provider on a one-host pool whose host is a real VM (a container of Deckhand's VM
 * image with its own sshd): one job at a time, a waiting job gets the host when it is released,
 * waiting jobs get it in the order they came, the wait ends with a clear error, a wrong host key is refused, and the lock of an agent that
 * died is taken over.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import ssh2 from 'ssh2';
import { InfrastructureError } from '../../agent/errors.js';
import { DockerVmProvider } from '../../agent/vm/docker-provider.js';
import type { Vm, VmAccess } from '../../agent/vm/provider.js';
import { StaticVmProvider, type StaticVmProviderOptions } from '../../agent/vm/static-provider.js';
import { removeScope, sshRun, uniqueScope, vmEngine, vmRequest } from './vm-fixture.js';

const run = promisify(execFile);

describe('StaticVmProvider', { timeout: 300_000 }, () => {
  let docker: Docker;
  const scope = uniqueScope('static-pool');
  let host: Vm;
  let dir: string;

  /** A pool file listing the one host, with the given host key. */
  async function poolFile(name: string, access: VmAccess, hostKey = access.hostKey): Promise<string> {
    const file = path.join(dir, `${name}.yml`);
    await writeFile(
      file,
      [
        'hosts:',
        `  - name: ${name}`,
        `    address: ${access.host}`,
        `    port: ${access.port}`,
        `    user: ${access.user}`,
        '    privateKeyFile: host.key',
        `    hostKey: ${hostKey}`,
        '',
      ].join('\n'),
    );
    return file;
  }

  const pool = (poolFile: string, options: Partial<StaticVmProviderOptions> = {}) =>
    new StaticVmProvider({ poolFile, stateDir: path.join(dir, 'state'), pollMs: 50, ...options });

  before(async () => {
    docker = await vmEngine();
    dir = await mkdtemp(path.join(tmpdir(), 'deckhand-static-pool-'));
    host = await new DockerVmProvider({ scope }).acquire(vmRequest(scope));
    await writeFile(path.join(dir, 'host.key'), host.access.privateKey, { mode: 0o600 });
  });
  after(async () => {
    await host?.release();
    await removeScope(docker, scope);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the host to one job at a time: the second waits, then gets it when the first releases', async () => {
    const provider = pool(await poolFile('one', host.access));
    const first = await provider.acquire(vmRequest('job-1'));
    assert.equal(first.id, 'one');
    assert.equal((await sshRun(first.access, 'id -un')).stdout.trim(), 'circleci');
    assert.deepEqual((await provider.list()).map((vm) => vm.owner?.jobId), ['job-1']);

    let secondAt = 0;
    const second = provider.acquire(vmRequest('job-2')).then((vm) => {
      secondAt = Date.now();
      return vm;
    });
    await sleep(600);
    assert.equal(secondAt, 0, 'the second job is still waiting');
    const releasedAt = Date.now();
    await first.release();
    await first.release(); // idempotent
    const vm = await second;
    assert.ok(secondAt >= releasedAt, 'got it after the release');
    assert.equal(vm.id, 'one');
    assert.deepEqual((await provider.list()).map((record) => record.owner?.jobId), ['job-2']);
    assert.equal((await sshRun(vm.access, 'true')).code, 0);
    await vm.release();
    assert.deepEqual(await provider.list(), []);
  });

  it('hands a freed host to the job that has waited longest, not to the one that looks most often', async () => {
    const file = await poolFile('queue', host.access);
    const holder = await pool(file).acquire(vmRequest('holder'));
    const order: string[] = [];
    const waitFor = (job: string, pollMs: number): Promise<Vm> =>
      pool(file, { pollMs }).acquire(vmRequest(job)).then((vm) => {
        order.push(job);
        return vm;
      });
    // the first to come looks seldom, the second all the time
    const patient = waitFor('patient', 400);
    await sleep(150);
    const eager = waitFor('eager', 10);
    await sleep(150);
    await holder.release();
    const first = await Promise.race([patient, eager]);
    assert.deepEqual(order, ['patient'], 'the job that came first has the host');
    await sleep(200);
    assert.deepEqual(order, ['patient'], 'the other still waits');
    await first.release();
    await (await eager).release();
    assert.deepEqual(order, ['patient', 'eager']);
    assert.deepEqual(await pool(file).list(), []);
  });

  it('fails a job that waited too long, naming the pool and how many hosts are busy', async () => {
    const file = await poolFile('busy', host.access);
    const provider = pool(file, { waitMs: 300 });
    const holder = await provider.acquire(vmRequest('holder'));
    try {
      const started = Date.now();
      await assert.rejects(provider.acquire(vmRequest('late')), (error: unknown) => {
        assert.ok(error instanceof InfrastructureError);
        assert.equal(error.message, error.message.split('\n')[0]);
        assert.ok(error.message.startsWith(`no free host in machine pool ${file} after 300ms: 1 of 1 busy (busy: job holder since `), error.message);
        return true;
      });
      assert.ok(Date.now() - started < 5000);
    } finally {
      await holder.release();
    }
  });

  it('refuses a host whose host key is not the one in the pool file, and does not keep it locked', async () => {
    const otherKey = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(' ');
    const file = await poolFile('rebuilt', host.access, otherKey);
    const provider = pool(file);
    await assert.rejects(provider.acquire(vmRequest('wary')), (error: unknown) => {
      assert.ok(error instanceof InfrastructureError);
      assert.match(error.message, new RegExp(`^machine pool ${file} has no usable host: host rebuilt: circleci@127\\.0\\.0\\.1:\\d+ presented host key SHA256:\\S+, not the expected SHA256:\\S+; refused; if the host was rebuilt, put its new key in the pool file$`));
      return true;
    });
    assert.deepEqual(await provider.list(), []);
  });

  it('refuses a host without a Docker engine for remote Docker', async () => {
    // a machine VM runs an engine, as CircleCI's machine images do: stop it to stand for a host without one
    const stopped = await sshRun(host.access, 'sudo kill "$(cat /var/run/docker.pid)" && while [ -e /var/run/docker.pid ]; do sleep 0.05; done');
    assert.equal(stopped.code, 0, stopped.stderr);
    const provider = pool(await poolFile('no-engine', host.access));
    await assert.rejects(provider.acquire(vmRequest('remote', { purpose: 'remote-docker' })), /host no-engine runs no Docker engine its user circleci can reach .*cannot serve setup_remote_docker/);
    assert.deepEqual(await provider.list(), []);
  });

  it("takes over the lock of an agent whose process died, and says so", async () => {
    const file = await poolFile('orphan', host.access);
    const options = { poolFile: file, stateDir: path.join(dir, 'state') };
    // another agent process: takes the host and exits without releasing it (a crash)
    const moduleUrl = new URL('../../agent/vm/static-provider.js', import.meta.url).href;
    const script = `
      const { StaticVmProvider } = await import(${JSON.stringify(moduleUrl)});
      const vm = await new StaticVmProvider(${JSON.stringify(options)}).acquire({ resourceClass: 'medium', cpus: 1, memoryMb: 1024, purpose: 'machine', owner: { jobId: 'crashed-job', runId: 'crashed-run' } });
      console.log(vm.id);
      process.exit(0);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    assert.equal(stdout.trim(), 'orphan');

    const lines: string[] = [];
    const provider = new StaticVmProvider({ ...options, waitMs: 2000, pollMs: 50, log: { log: (_level, msg) => lines.push(msg) } });
    assert.deepEqual((await provider.list()).map((vm) => vm.owner?.jobId), ['crashed-job']);
    const vm = await provider.acquire(vmRequest('survivor'));
    try {
      const said = /^machine pool host orphan was locked by job crashed-job \(run crashed-run\), whose agent \(pid \d+\) is gone; taking it over$/;
      assert.match(lines.join('\n'), said);
      assert.match(vm.notes?.join('\n') ?? '', said);
      assert.deepEqual((await provider.list()).map((record) => record.owner?.jobId), ['survivor']);
    } finally {
      await vm.release();
    }
  });

  it('reap unlocks hosts held longer than asked', async () => {
    const provider = pool(await poolFile('reaped', host.access));
    await provider.acquire(vmRequest('forgotten'));
    assert.deepEqual(await provider.reap(60_000), []);
    assert.deepEqual(await provider.reap(0), ['reaped']);
    assert.deepEqual(await provider.list(), []);
  });
});
