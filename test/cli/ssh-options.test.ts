/**
 * The --ssh flags as `deckhand execute` reads them into the assignment's `ssh` section: the
 * default keys (~/.ssh/*.pub), ports and ranges, durations, the address to show, and the usage
 * errors, through the real binary where a user would see them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { parseAssignment } from '../../agent/assignment/validate.js';
import { localAddress, sshFromFlags, withSshHost } from '../../agent/cli/ssh-options.js';
import { BUSYBOX, deckhandBin, job, project } from '../support/execute.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ4b2xkZXJzIGFuZCBrZXlzIGZvciB0ZXN0cyBvbmx5 someone@laptop\n';

function homeWith(files: Record<string, string>): string {
  const home = mkdtempSync(join(tmpdir(), 'deckhand-ssh-home-'));
  mkdirSync(join(home, '.ssh'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(home, '.ssh', name), text);
  return home;
}

describe('--ssh flags', () => {
  test('--ssh alone: every ~/.ssh/*.pub, the default range and durations left to the job', () => {
    const home = homeWith({ 'id_ed25519.pub': KEY, 'id_rsa.pub': KEY, id_ed25519: 'private', known_hosts: '' });
    assert.deepEqual(sshFromFlags({ ssh: true }, home), { enabled: true, authorizedKeys: [join(home, '.ssh', 'id_ed25519.pub'), join(home, '.ssh', 'id_rsa.pub')] });
  });

  test('every flag: the key file, a port or a range, the host, the durations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deckhand-ssh-flags-'));
    const keys = join(dir, 'keys');
    writeFileSync(keys, KEY);
    assert.deepEqual(sshFromFlags({ ssh: true, sshAuthorizedKeys: [keys], sshPort: '64600', sshHost: 'build-7.example.com', sshWait: '90s', sshMaxHold: '1h30m' }, dir), {
      enabled: true,
      authorizedKeys: [keys],
      port: 64600,
      host: 'build-7.example.com',
      waitSeconds: 90,
      maxHoldSeconds: 5400,
    });
    assert.deepEqual(sshFromFlags({ ssh: true, sshAuthorizedKeys: [keys], sshPort: '2200-2210' }, dir)?.ports, { first: 2200, last: 2210 });
  });

  test('what is wrong is said in one line naming the flag', () => {
    const empty = homeWith({});
    assert.throws(() => sshFromFlags({ ssh: true }, empty), /--ssh needs your public keys, and .*\.ssh has no \*\.pub file: make one with ssh-keygen -t ed25519, or give --ssh-authorized-keys FILE/);
    assert.throws(() => sshFromFlags({ ssh: true, sshAuthorizedKeys: ['/nonexistent/keys'] }, empty), /--ssh-authorized-keys \/nonexistent\/keys does not exist/);
    const home = homeWith({ 'a.pub': KEY });
    assert.throws(() => sshFromFlags({ ssh: true, sshPort: '70000' }, home), /--ssh-port 70000: ports are 1 to 65535/);
    assert.throws(() => sshFromFlags({ ssh: true, sshPort: '65535-64535' }, home), /the first of a range at most its last/);
    assert.throws(() => sshFromFlags({ ssh: true, sshPort: 'ssh' }, home), /expected a port \(64535\) or a range \(64535-65535\)/);
    assert.throws(() => sshFromFlags({ ssh: true, sshHost: 'me@host' }, home), /--ssh-host "me@host": expected a host name or an address, without a user/);
    assert.throws(() => sshFromFlags({ ssh: true, sshWait: 'soon' }, home), /--ssh-wait/);
    assert.throws(() => sshFromFlags({ sshPort: '64535' }, home), /--ssh-port only applies with --ssh/);
  });

  test('the address shown: the one given, else this machine\'s', () => {
    const a = { ssh: { enabled: true, authorizedKeys: ['/k.pub'] } } as unknown as JobAssignment;
    assert.equal(withSshHost(a, () => '198.51.100.7').ssh?.host, '198.51.100.7');
    assert.equal(withSshHost({ ...a, ssh: { ...a.ssh!, host: 'given' } }, () => 'other').ssh?.host, 'given');
    assert.match(localAddress(), /^\d+\.\d+\.\d+\.\d+$/);
  });

  test('the real binary: --print-assignment carries the ssh section, and it validates', () => {
    const dir = project(job(BUSYBOX, '      - run: echo hi'));
    const home = homeWith({ 'id_ed25519.pub': KEY });
    const r = spawnSync(process.execPath, [deckhandBin, 'execute', '--ssh', '--ssh-port', '64535-64600', '--ssh-host', '203.0.113.9', '--ssh-wait', '1m', '--print-assignment'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, HOME: home, DECKHAND_HOME: join(dir, '.home') },
    });
    assert.equal(r.status, 0, r.stderr);
    const assignment = parseAssignment(JSON.parse(r.stdout), 'printed');
    assert.deepEqual(assignment.ssh, { enabled: true, authorizedKeys: [join(home, '.ssh', 'id_ed25519.pub')], ports: { first: 64535, last: 64600 }, host: '203.0.113.9', waitSeconds: 60 });
    // no --ssh-host: the printed assignment may run on another machine, which shows its own address
    const elsewhere = spawnSync(process.execPath, [deckhandBin, 'execute', '--ssh', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, HOME: home, DECKHAND_HOME: join(dir, '.home') } });
    assert.equal(elsewhere.status, 0, elsewhere.stderr);
    assert.equal((JSON.parse(elsewhere.stdout) as JobAssignment).ssh?.host, undefined);
    const bad = spawnSync(process.execPath, [deckhandBin, 'execute', '--ssh-wait', '1m'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^deckhand: --ssh-wait only applies with --ssh\n$/);
  });

  test('the assignment\'s ssh section: one of port and ports, a range in order, keys when enabled', () => {
    const dir = project(job(BUSYBOX, '      - run: echo hi'));
    const r = spawnSync(process.execPath, [deckhandBin, 'execute', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    const base = JSON.parse(r.stdout) as JobAssignment;
    const withSsh = (ssh: unknown) => () => parseAssignment({ ...base, ssh }, 'test');
    assert.throws(withSsh({ enabled: true, authorizedKeys: ['/k.pub'], port: 1, ports: { first: 1, last: 2 } }), /\$\.ssh: expected one of port and ports, got both/);
    assert.throws(withSsh({ enabled: true, authorizedKeys: ['/k.pub'], ports: { first: 9, last: 2 } }), /\$\.ssh\.ports: expected first \(9\) at most last \(2\)/);
    assert.throws(withSsh({ enabled: true, authorizedKeys: [] }), /\$\.ssh\.authorizedKeys: expected at least one public key when ssh is enabled/);
    assert.throws(withSsh({ enabled: true, authorizedKeys: ['relative.pub'] }), /\$\.ssh\.authorizedKeys/);
    assert.equal(withSsh({ enabled: false, authorizedKeys: [] })().ssh?.enabled, false);
  });
});
