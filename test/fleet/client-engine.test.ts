/**
 * The client image's Docker engine as jobs meet it: its own dockerd started in a container of the
 * packer-built image (Docker in Docker, vfs) with the image's daemon.json, and a job container run
 * on it. Root in the job container owns files as a remapped user on the client (userns-remap), and
 * once the image's firewall rules are loaded the job container cannot open connections to private
 * ranges, but still reaches DNS (53) and remote Docker engines (2376) there. The target is a
 * listener container on the host's bridge network, a private address. Then Deckhand, as installed
 * in the image, runs a job there with `deckhand execute`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { FLEET_LABEL, fleetImage, run } from './fleet-images.js';

const BUSYBOX = 'deckhand-test/busybox:latest';
const PORTS = [53, 2376, 8080];

describe('the client image\'s engine: userns-remap and the firewall, with a job container', { timeout: 600_000 }, () => {
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const listener = `deckhand-fleet-listener-${suffix}`;
  const client = `deckhand-fleet-client-${suffix}`;
  let target = '';
  const inClient = async (script: string) => (await run('docker', ['exec', client, 'sh', '-c', script], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  /** From a job container on the client's engine: which of PORTS at the target accept a connection. */
  const reachable = async (): Promise<Record<number, boolean>> => {
    const probes = PORTS.map((p) => `if echo | timeout 5 nc -w 2 ${target} ${p} >/dev/null 2>&1; then echo ${p}:open; else echo ${p}:closed; fi`).join('; ');
    const out = await inClient(`docker run --rm ${BUSYBOX} sh -c '${probes}'`);
    return Object.fromEntries([...out.matchAll(/(\d+):(open|closed)/g)].map((m) => [Number(m[1]), m[2] === 'open']));
  };

  before(async () => {
    const image = await fleetImage('client');
    // a listener on each port, on the host's bridge network (a private address)
    await run('docker', ['run', '-d', '--name', listener, '--label', FLEET_LABEL, BUSYBOX, 'sh', '-c', PORTS.map((p) => `(while true; do nc -l -p ${p} </dev/null; done) &`).join(' ') + ' wait']);
    target = (await run('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', listener])).stdout.trim();
    assert.match(target, /^(10|172|192)\./, 'the listener has a private address');
    await run('docker', ['run', '-d', '--name', client, '--label', FLEET_LABEL, '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined', '--cgroupns', 'private', '--tmpfs', '/var/lib/docker:exec', image, 'sleep', '600']);
    // Docker mounts a container's cgroups read-only unless it is privileged (refused here): made
    // writable as images/vm's entrypoint does (cgroup v1), which a real client does not need
    await inClient('while read -r _ dir type options _; do case "$type:$options" in cgroup:ro,* | cgroup:*,ro,* | cgroup:*,ro) mount -o remount,rw,bind "$dir" ;; esac; done </proc/self/mounts');
    // the image's daemon.json as it is; vfs, the one storage driver that works nested
    await inClient('(dockerd --storage-driver=vfs >/var/log/dockerd.log 2>&1 &); for i in $(seq 150); do docker info >/dev/null 2>&1 && exit 0; sleep 0.2; done; tail -n 5 /var/log/dockerd.log; exit 1');
    // the job image, from the host's engine
    await new Promise<void>((resolve, reject) => {
      const save = spawn('docker', ['save', BUSYBOX], { stdio: ['ignore', 'pipe', 'inherit'] });
      const load = spawn('docker', ['exec', '-i', client, 'docker', 'load', '-q'], { stdio: ['pipe', 'ignore', 'inherit'] });
      save.stdout.pipe(load.stdin);
      load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker load into the client's engine exited ${code}`))));
      save.on('error', reject);
      load.on('error', reject);
    });
  });
  after(async () => {
    await run('docker', ['rm', '-f', '-v', client, listener]).catch(() => {});
  });

  it('runs job containers with user namespaces remapped: their root is not the client\'s root', async () => {
    assert.match(await inClient("docker info --format '{{.SecurityOptions}}'"), /name=userns/);
    const uid = await inClient(`mkdir -p /tmp/job && chmod 0777 /tmp/job && docker run --rm -v /tmp/job:/job ${BUSYBOX} sh -c 'id -u; touch /job/made-by-root' && stat -c %u /tmp/job/made-by-root`);
    const [inside, onClient] = uid.trim().split('\n').map(Number);
    assert.equal(inside, 0);
    assert.ok((onClient ?? 0) >= 100000, `the file belongs to uid ${onClient} on the client, a subordinate id`);
  });

  it('keeps job containers from private ranges once its rules are loaded, DNS and remote Docker still reachable', async () => {
    assert.deepEqual(await reachable(), { 53: true, 2376: true, 8080: true }, 'everything reachable before the rules');
    await inClient('iptables-restore --noflush /etc/deckhand/firewall.rules');
    assert.deepEqual(await reachable(), { 53: true, 2376: true, 8080: false });
    // the metadata address is refused at once rather than left to time out
    const started = Date.now();
    const metadata = await inClient(`docker run --rm ${BUSYBOX} sh -c 'echo | timeout 5 nc -w 3 169.254.169.254 80 >/dev/null 2>&1 && echo open || echo closed'`);
    assert.equal(metadata.trim(), 'closed');
    assert.ok(Date.now() - started < 4_500, 'refused, not timed out');
  });

  it('runs a Deckhand job on that engine with deckhand execute, the job kept from private ranges too', async () => {
    const config = [
      'version: 2.1',
      'jobs:',
      '  build:',
      '    docker:',
      `      - image: ${BUSYBOX}`,
      '    steps:',
      '      - run: |',
      '          echo "job uid $(id -u)"',
      `          if echo | timeout 5 nc -w 2 ${target} 8080 >/dev/null 2>&1; then echo private:open; else echo private:closed; fi`,
      `          if echo | timeout 5 nc -w 2 ${target} 53 >/dev/null 2>&1; then echo dns:open; else echo dns:closed; fi`,
    ].join('\n');
    const out = await inClient([
      'iptables-restore --noflush /etc/deckhand/firewall.rules',
      'mkdir -p /tmp/project/.circleci && cd /tmp/project',
      `cat >.circleci/config.yml <<'DECKHAND_TEST'\n${config}\nDECKHAND_TEST`,
      'git init -q . && git -c user.email=ci@example.com -c user.name=ci commit -q --allow-empty -m start',
      'deckhand execute --job build 2>&1',
    ].join('\n'));
    assert.match(out, /^job uid 0$/m);
    assert.match(out, /^private:closed$/m);
    assert.match(out, /^dns:open$/m);
    assert.match(out, /Success!/);
  });
});
