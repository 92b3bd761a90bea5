/** Reading a machine pool file: what it accepts, and the one-line refusals that name file, host and field. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { UsageError } from '../../agent/errors.js';
import { readPool } from '../../agent/vm/static-pool.js';

describe('machine pool files', () => {
  let dir: string;
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(' ');
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'deckhand-pool-file-'));
    await writeFile(path.join(dir, 'key'), ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
    await writeFile(path.join(dir, 'locked-key'), ssh2.utils.generateKeyPairSync('ed25519', { passphrase: 'secret', cipher: 'aes256-ctr', rounds: 16 }).private, { mode: 0o600 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function pool(name: string, text: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  }

  it('reads hosts with defaults for port and user, key files relative to the pool file', async () => {
    const file = await pool('ok.yml', `hosts:\n  - {name: a, address: 10.0.0.5, privateKeyFile: key, hostKey: "${hostKey} a comment"}\n  - {name: b, address: b.example, port: 2222, user: ci, privateKeyFile: ${dir}/key, hostKey: "${hostKey}"}\n`);
    const { hosts } = await readPool(file);
    assert.deepEqual(
      hosts.map(({ name, address, port, user, privateKeyFile }) => ({ name, address, port, user, privateKeyFile })),
      [
        { name: 'a', address: '10.0.0.5', port: 22, user: 'circleci', privateKeyFile: path.join(dir, 'key') },
        { name: 'b', address: 'b.example', port: 2222, user: 'ci', privateKeyFile: path.join(dir, 'key') },
      ],
    );
  });

  it('refuses what cannot work, naming the file, the host and the field', async () => {
    const cases: Array<[string, RegExp]> = [
      ['hosts: []', /lists no hosts/],
      [`hosts:\n  - {name: a, address: x, privateKeyFile: key, hostKey: "${hostKey}", pasword: x}`, /hosts\[0\] has unknown field "pasword"/],
      [`hosts:\n  - {name: a, address: x, privateKeyFile: key}`, /hosts\[0\] \(a\) needs hostKey/],
      [`hosts:\n  - {name: a, address: x, privateKeyFile: key, hostKey: "ssh-ed25519 AAAAB3NzaC1yc2E"}`, /\(a\): hostKey: the ssh-ed25519 host key's data is damaged/],
      [`hosts:\n  - {name: a, address: x, port: 70000, privateKeyFile: key, hostKey: "${hostKey}"}`, /\(a\): port must be a number from 1 to 65535/],
      [`hosts:\n  - {name: a, address: x, privateKeyFile: missing, hostKey: "${hostKey}"}`, /\(a\): cannot read privateKeyFile .*missing/],
      [`hosts:\n  - {name: a, address: x, privateKeyFile: locked-key, hostKey: "${hostKey}"}`, /\(a\): privateKeyFile .*locked-key is encrypted/],
      [`hosts:\n  - {name: a, address: x, privateKeyFile: key, hostKey: "${hostKey}"}\n  - {name: a, address: y, privateKeyFile: key, hostKey: "${hostKey}"}`, /hosts\[1\] \(a\): the name is used twice/],
    ];
    for (const [i, [text, expected]] of cases.entries()) {
      const file = await pool(`bad-${i}.yml`, text);
      await assert.rejects(readPool(file), (error: unknown) => {
        assert.ok(error instanceof UsageError, String(error));
        assert.ok(error.message.startsWith(`machine pool file ${file}`), error.message);
        assert.match(error.message, expected);
        return true;
      });
    }
  });
});
