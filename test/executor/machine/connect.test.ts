/**
 * Reaching the VM: the host key its provider reported and no other (refused before any login, let
 * alone a command, with both fingerprints as ssh-keygen prints them), a key type the VM lacks, a
 * user key it does not accept, nothing listening, and a teardown while the connection is made.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { ExecutorError, ExecutorUnavailableError } from '../../../agent/executor/executor.js';
import { MachineExecutor } from '../../../agent/executor/machine/machine-executor.js';
import { freePort } from '../../support/free-port.js';
import { ed25519KeyPair, startSshd, type SshdContainer } from '../../support/sshd-container.js';

const scratch = mkdtempSync(join(tmpdir(), 'deckhand-machine-connect-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** What `ssh-keygen -l` prints for a public key: the reference for the fingerprints in messages. */
function sshKeygenFingerprint(publicKey: string): string {
  const file = join(scratch, `key-${Math.random().toString(16).slice(2)}.pub`);
  writeFileSync(file, `${publicKey}\n`);
  const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
  const found = /(SHA256:\S+)/.exec(printed)?.[1];
  assert.ok(found, `ssh-keygen printed no fingerprint: ${printed}`);
  return found;
}

async function refusal(promise: Promise<unknown>): Promise<ExecutorError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ExecutorError, `expected an ExecutorError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/, 'the message is one line');
    return error;
  }
  assert.fail('prepare() must fail');
}

describe('MachineExecutor: connecting to the VM', () => {
  let vm: SshdContainer;
  before(async () => {
    vm = await startSshd('connect');
  });
  after(async () => {
    await vm?.remove();
  });

  test('a VM presenting another host key than reported is refused before any login, naming both fingerprints', async () => {
    const impostor = ed25519KeyPair('impostor').public;
    let released = 0;
    const executor = new MachineExecutor({ access: { ...vm.access(), hostKey: impostor }, release: async () => void released++ });
    const error = await refusal(executor.prepare());
    assert.ok(error instanceof ExecutorUnavailableError, 'an infrastructure failure: the VM cannot be used');
    assert.match(error.message, new RegExp(`^VM 127\\.0\\.0\\.1:${vm.port} presented the host key `));
    assert.ok(error.message.includes(sshKeygenFingerprint(vm.hostKey)), `${error.message} names what the VM presented`);
    assert.ok(error.message.includes(sshKeygenFingerprint(impostor)), `${error.message} names what was expected`);
    // the key exchange stopped it: no user was ever authenticated, so no command could run
    assert.doesNotMatch(await vm.logs(), /Accepted publickey/);
    await executor.teardown();
    await executor.teardown();
    assert.equal(released, 1, 'the VM is released once');
  });

  test('a reported key of a type the VM has no key of is refused', async () => {
    const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 }).public;
    const executor = new MachineExecutor({ access: { ...vm.access(), hostKey: rsa }, release: async () => undefined });
    const error = await refusal(executor.prepare());
    assert.ok(error instanceof ExecutorUnavailableError);
    assert.match(error.message, new RegExp(`^VM 127\\.0\\.0\\.1:${vm.port} has no ssh-rsa host key`));
    await executor.teardown();
  });

  test('a host key that is not a public key is an error that says so', async () => {
    const executor = new MachineExecutor({ access: { ...vm.access(), hostKey: 'not a key' }, release: async () => undefined });
    const error = await refusal(executor.prepare());
    assert.match(error.message, /^the host key reported for VM 127\.0\.0\.1:\d+ is unusable: host key type "not" is not one of ssh-ed25519, .*; check the VM provider$/);
    await executor.teardown();
  });

  test('a user key the VM does not accept is refused, naming the user', async () => {
    const stranger = Buffer.from(ed25519KeyPair('stranger').private);
    const executor = new MachineExecutor({ access: { ...vm.access(), privateKey: stranger }, release: async () => undefined });
    const error = await refusal(executor.prepare());
    assert.match(error.message, /refused the key of user circleci/);
    await executor.teardown();
  });

  test('a private key ssh2 cannot read is an error naming the user, not a crash', async () => {
    const executor = new MachineExecutor({ access: { ...vm.access(), privateKey: Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\nbm9wZQ==\n-----END OPENSSH PRIVATE KEY-----\n') }, release: async () => undefined });
    const error = await refusal(executor.prepare());
    assert.match(error.message, new RegExp(`^cannot use the private key for user circleci of VM 127\\.0\\.0\\.1:${vm.port}: `));
    await executor.teardown();
  });

  test('nothing listening: an unavailable VM, at once', async () => {
    const port = await freePort();
    const executor = new MachineExecutor({ access: { ...vm.access(), port }, release: async () => undefined });
    const t0 = Date.now();
    const error = await refusal(executor.prepare());
    assert.ok(error instanceof ExecutorUnavailableError);
    assert.match(error.message, new RegExp(`cannot connect to VM 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    assert.ok(Date.now() - t0 < 2_000);
    await executor.teardown();
  });

  describe('a VM that accepts TCP but never speaks SSH', () => {
    let silent: Server;
    const sockets: Socket[] = [];
    before(async () => {
      silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => silent.close(resolve));
    });
    const port = (): number => (silent.address() as { port: number }).port;

    test('times out after connectTimeoutMs', async () => {
      const executor = new MachineExecutor({ access: { ...vm.access(), port: port() }, release: async () => undefined, connectTimeoutMs: 500 });
      const error = await refusal(executor.prepare());
      assert.ok(error instanceof ExecutorUnavailableError);
      assert.match(error.message, /no SSH handshake within 0\.5 s/);
      await executor.teardown();
    });

    test('teardown during prepare ends the attempt at once, and releases the VM', async () => {
      let released = 0;
      const executor = new MachineExecutor({ access: { ...vm.access(), port: port() }, release: async () => void released++ });
      const preparing = executor.prepare();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const t0 = Date.now();
      await executor.teardown();
      assert.ok(Date.now() - t0 < 1_000, `teardown took ${Date.now() - t0} ms`);
      await refusal(preparing);
      assert.equal(released, 1);
      const late = executor.exec({ command: ['true'] });
      await assert.rejects(late.exit, /after teardown/);
    });
  });
});
