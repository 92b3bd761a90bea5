/**
 * packer/: every template passes `packer validate` (amazon-ebs, googlecompute and docker sources
 * alike, offline), and the docker variants are built for real on the local engine, then checked
 * for what they hold: the client image renders the same Nomad configuration as `deckhand nomad
 * client-config`, its firewall rules load, its plugin answers Nomad's handshake, its units are
 * enabled; the VM image serves as a Deckhand VM (docker provider) with sshd, git, sudo and an engine.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { DockerVmProvider } from '../../agent/vm/docker-provider.js';
import { repoRoot } from '../support/repo-root.js';
import { removeScope, sshRun, uniqueScope, vmEngine, vmRequest } from '../vm/vm-fixture.js';
import { fleetImage, hclOutlineOf, inImage, needTool, run, stageDeckhand } from './fleet-images.js';

const deckhand = path.join(repoRoot(), 'bin', 'deckhand.js');
// the go-plugin handshake Nomad's client makes (plugins/base/plugin.go)
const NOMAD_COOKIE = 'NOMAD_PLUGIN_MAGIC_COOKIE=e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255';

describe('packer/ templates', { timeout: 600_000 }, () => {
  let client = '';
  let vm = '';
  before(async () => {
    await needTool('packer', 'apt-get install packer');
    [client, vm] = await Promise.all([fleetImage('client'), fleetImage('vm')]);
  });

  it('every template validates with each of its sources and is packer fmt clean', async () => {
    const stage = await stageDeckhand();
    try {
      for (const [template, vars] of [['client', [`-var=stage_dir=${stage}`]], ['vm', []]] as const) {
        const { stdout } = await run('packer', ['validate', ...vars, '.'], { cwd: path.join(repoRoot(), 'packer', template) });
        assert.doesNotMatch(stdout, /error/i);
        await run('packer', ['fmt', '-check', '.'], { cwd: path.join(repoRoot(), 'packer', template) }).catch(() => assert.fail(`packer/${template} is not in packer fmt's canonical format: run packer fmt packer/${template}`));
        const { stdout: inspect } = await run('packer', ['inspect', '.'], { cwd: path.join(repoRoot(), 'packer', template) });
        for (const source of ['amazon-ebs', 'googlecompute', 'docker']) assert.match(inspect, new RegExp(`${source}\\.${template}`), `${template} has a ${source} source`);
      }
      // a template that does not hold together is refused (the check can fail)
      await assert.rejects(run('packer', ['validate', '-var=stage_dir=/nonexistent', '.'], { cwd: path.join(repoRoot(), 'packer', 'client') }));
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  });

  it('the client image renders the configuration deckhand nomad client-config renders, at boot from fleet.env', async () => {
    const env = [
      'DECKHAND_NOMAD_SERVERS=10.0.0.11,10.0.0.12:4747',
      'DECKHAND_DATACENTER=eu-west-1',
      'DECKHAND_STORE=s3://ci-store/deckhand',
      'DECKHAND_OUTPUT_PROCESSOR=10.0.5.5:8585',
      'DECKHAND_OUTPUT_SECRET_FILE=/etc/deckhand/processor-secret',
      'DECKHAND_DRAIN_DEADLINE=45m',
      'DECKHAND_TLS_CA=/etc/nomad.d/ca.pem',
      'DECKHAND_TLS_CERT=/etc/nomad.d/client.pem',
      'DECKHAND_TLS_KEY=/etc/nomad.d/client-key.pem',
      'DECKHAND_SSH_ADDRESS=203.0.113.7',
    ].join('\n');
    const { stdout } = await inImage(client, `cat >/etc/deckhand/fleet.env <<'X'\n${env}\nX\ndeckhand-client-config >&2 && cat /etc/nomad.d/client.hcl && echo ---- && cat /etc/nomad.d/ssh-address.hcl && echo ---- && cat /etc/deckhand/nomad.env`);
    const [hcl, ssh, nomadEnv] = stdout.split('----\n');
    // the same machine (the container reads this host's CPU speed), the same flags
    const { stdout: expected } = await run(deckhand, ['nomad', 'client-config', '--servers', '10.0.0.11,10.0.0.12:4747', '--datacenter', 'eu-west-1', '--store', 's3://ci-store/deckhand', '--output-processor', '10.0.5.5:8585', '--output-secret-file', '/etc/deckhand/processor-secret', '--drain-deadline', '45m', '--tls-ca', '/etc/nomad.d/ca.pem', '--tls-cert', '/etc/nomad.d/client.pem', '--tls-key', '/etc/nomad.d/client-key.pem']);
    assert.equal(hcl, expected);
    assert.match(hcl ?? '', /min_dynamic_port = 64535/);
    assert.match(hcl ?? '', /reserved_memory_mb = 4096/);
    // both files as HCL, the shell-written one included: what Nomad is given parses
    const config = await hclOutlineOf(hcl ?? '');
    assert.deepEqual(config.blocks.map((b) => `${b.type}${b.labels.map((l) => ` ${l}`).join('')}`), ['client', 'plugin deckhand', 'tls']);
    assert.equal(config.attributes.datacenter?.value, 'eu-west-1');
    const meta = (await hclOutlineOf(ssh ?? '')).blocks.find((b) => b.type === 'client')?.blocks.find((b) => b.type === 'meta');
    assert.equal(meta?.attributes.deckhand_ssh_address?.value, '203.0.113.7');
    assert.match(nomadEnv ?? '', /^NOMAD_ADDR=https:\/\/127\.0\.0\.1:4646$/m);
    assert.match(nomadEnv ?? '', /^DECKHAND_DRAIN_DEADLINE=45m$/m);

    // without servers it says so and renders nothing
    await assert.rejects(inImage(client, 'echo DECKHAND_DATACENTER=x >/etc/deckhand/fleet.env; deckhand-client-config'), /DECKHAND_NOMAD_SERVERS is empty/);
  });

  it('the client image holds Deckhand, its plugin (which answers Nomad\'s handshake), Docker with userns-remap, and its units', async () => {
    const { stdout } = await inImage(client, [
      'deckhand --version',
      'node --version',
      'cat /etc/docker/daemon.json',
      'echo ----',
      'ls /etc/systemd/system/multi-user.target.wants/',
      'echo ----',
      // the plugin serves until killed: its first line is the handshake
      `cd /tmp && ${NOMAD_COOKIE} PLUGIN_PROTOCOL_VERSIONS=2 /opt/nomad/plugins/deckhand >/tmp/handshake 2>/dev/null & for i in $(seq 100); do [ -s /tmp/handshake ] && break; sleep 0.1; done; kill $!; head -n 1 /tmp/handshake`,
      'echo ----',
      'grep -h ExecStop /etc/systemd/system/deckhand-drain.service',
      'docker --version',
    ].join('\n'));
    const [versions, wants, handshake, rest] = stdout.split('----\n');
    const [deckhandVersion, nodeVersion, ...daemon] = (versions ?? '').trim().split('\n');
    assert.match(deckhandVersion ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(nodeVersion, process.version);
    assert.equal((JSON.parse(daemon.join('\n')) as Record<string, unknown>)['userns-remap'], 'default');
    for (const unit of ['nomad.service', 'docker.service', 'deckhand-firewall.service', 'deckhand-client-config.service', 'deckhand-drain.service']) {
      assert.ok(wants?.split('\n').includes(unit), `${unit} is enabled`);
    }
    assert.match(handshake ?? '', /^1\|2\|unix\|\/tmp\/deckhand-plugin-[^|]+\/plugin\.sock\|grpc\|/);
    assert.match(rest ?? '', /ExecStop=\/usr\/local\/bin\/deckhand nomad drain --self --deadline \$\{DECKHAND_DRAIN_DEADLINE\}/);
    assert.match(rest ?? '', /^Docker version \d+/m);
  });

  it('the client image\'s firewall rules load and keep job containers from metadata and private ranges, DNS allowed', async () => {
    // in the container's own network namespace: NET_ADMIN there touches nothing of the host's
    const { stdout } = await inImage(client, 'iptables-restore --noflush /etc/deckhand/firewall.rules && iptables-restore --noflush /etc/deckhand/firewall.rules && iptables -S DOCKER-USER', ['--cap-add', 'NET_ADMIN']);
    const rules = stdout.trim().split('\n');
    // loading twice gives the same chain, not twice the rules
    assert.equal(rules.filter((r) => r.includes('169.254.0.0/16')).length, 1);
    const index = (re: RegExp) => rules.findIndex((r) => re.test(r));
    const dns = index(/-p udp .*--dport 53 -j RETURN/);
    const metadata = index(/-d 169\.254\.0\.0\/16 -j REJECT/);
    assert.ok(dns >= 0 && metadata > dns, 'DNS is let through before anything is refused');
    for (const range of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']) {
      const refused = index(new RegExp(`-d ${range.replace(/[./]/g, '\\$&')} -j REJECT`));
      const remoteDocker = index(new RegExp(`-d ${range.replace(/[./]/g, '\\$&')} -p tcp .*--dport 2376 -j RETURN`));
      assert.ok(refused > 0, `${range} refused`);
      assert.ok(remoteDocker >= 0 && remoteDocker < refused, `remote Docker (2376) in ${range} let through first`);
    }
    assert.equal(rules.at(-1), '-A DOCKER-USER -j RETURN');
  });

  it('the VM image serves as a Deckhand VM: the circleci user over SSH with its host key, sudo, git, a running engine', async () => {
    const docker = await vmEngine();
    const scope = uniqueScope('packer-vm');
    const provider = new DockerVmProvider({ image: vm, scope });
    try {
      const machine = await provider.acquire(vmRequest(scope, { purpose: 'remote-docker' }));
      try {
        const result = await sshRun(machine.access, 'id -un; sudo -n true && echo sudo; git --version; docker version --format "{{.Server.Version}}"; test -x /usr/local/bin/deckhand-dockerd && echo dockerd-script');
        assert.equal(result.code, 0, result.stderr);
        const [user, sudo, git, engine, script] = result.stdout.trim().split('\n');
        assert.equal(user, 'circleci');
        assert.equal(sudo, 'sudo');
        assert.match(git ?? '', /^git version /);
        assert.match(engine ?? '', /^\d+\.\d+/);
        assert.equal(script, 'dockerd-script');
      } finally {
        await machine.release();
      }
    } finally {
      await removeScope(docker, scope);
    }
  });
});
