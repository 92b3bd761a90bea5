/** Host keys as providers report them: parsed, and named by the fingerprint OpenSSH's ssh-keygen prints. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { hostKeyAlgorithms, parseHostKey } from '../../agent/vm/host-key.js';

const run = promisify(execFile);

describe('host keys', () => {
  it("fingerprints keys as ssh-keygen -l does", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-host-key-'));
    try {
      for (const pair of [ssh2.utils.generateKeyPairSync('ed25519'), ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }), ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 })]) {
        const file = path.join(dir, 'key.pub');
        await writeFile(file, `${pair.public}\n`);
        const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', file]);
        assert.equal(parseHostKey(pair.public).fingerprint, stdout.split(' ')[1]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('offers only the algorithms of the reported key', () => {
    assert.deepEqual(hostKeyAlgorithms(parseHostKey(ssh2.utils.generateKeyPairSync('ed25519').public)), ['ssh-ed25519']);
    assert.deepEqual(hostKeyAlgorithms(parseHostKey(ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 }).public)), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  it('refuses what is not a host key, saying how to write one', () => {
    assert.throws(() => parseHostKey('AAAAC3NzaC1lZDI1NTE5'), /write it as "ssh-ed25519 AAAA…"/);
    assert.throws(() => parseHostKey('ssh-dss AAAAB3NzaC1kc3M='), /host key type "ssh-dss" is not one of/);
    const ed = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ')[1] ?? '';
    assert.throws(() => parseHostKey(`ecdsa-sha2-nistp256 ${ed}`), /data is damaged/);
  });
});
