// The add_ssh_keys step against the real Docker engine: keys from a local
// folder land in ~/.ssh with ssh's modes and the container user's ownership,
// ssh's own config resolution picks them up, and fingerprints (checked
// against ssh-keygen on this machine) select them.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { DockerExecutor } from '../../agent/executor/docker/docker-executor.js';
import type { Executor } from '../../agent/executor/executor.js';
import type { AddSshKeysStep } from '../../agent/jobspec/jobspec.js';
import { addSshKeysStep } from '../../agent/steps/add-ssh-keys.js';
import { BUSYBOX, DEBIAN, collect, realEngine, uniqueJobId } from '../executor/docker/engine-fixture.js';
import { run, testContext } from './local-steps-fixture.js';

const step = (fingerprints: string[] = []): AddSshKeysStep => ({ type: 'add_ssh_keys', name: 'Add SSH keys', when: 'on_success', fingerprints });

async function shell(executor: Executor, script: string): Promise<string> {
  const result = await collect(executor.exec({ command: ['/bin/sh', '-c', script] }));
  assert.equal(result.exitCode, 0, `${script}\n${result.stderr}`);
  return result.stdout;
}

interface TestKey {
  file: string;
  md5: string;
  sha256: string;
  /** the name add_ssh_keys gives it in ~/.ssh */
  installedAs: string;
}

/** Writes a fresh key pair into the folder; fingerprints come from ssh-keygen, not from the code under test. */
async function addKey(folder: string, name: string, type: 'ed25519' | 'ecdsa'): Promise<TestKey> {
  const pair = type === 'ecdsa' ? ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }) : ssh2.utils.generateKeyPairSync('ed25519');
  const file = path.join(folder, name);
  await writeFile(file, pair.private, { mode: 0o600 });
  await writeFile(`${file}.pub`, `${pair.public}\n`);
  const fingerprint = async (hash: string) => (await run('ssh-keygen', ['-l', '-E', hash, '-f', `${file}.pub`])).split(' ')[1] ?? '';
  const md5 = (await fingerprint('md5')).replace(/^MD5:/, '');
  return { file, md5, sha256: await fingerprint('sha256'), installedAs: `id_rsa_${md5.replace(/:/g, '')}` };
}

describe('add_ssh_keys', () => {
  let scratch: string;
  let keysDir: string;
  let first: TestKey;
  let second: TestKey;
  let debian: DockerExecutor;
  let nonRoot: DockerExecutor;

  before(async () => {
    const docker = await realEngine();
    scratch = await mkdtemp(path.join(tmpdir(), 'deckhand-ssh-keys-'));
    keysDir = path.join(scratch, 'ssh-keys');
    await mkdir(keysDir);
    first = await addKey(keysDir, 'deploy', 'ed25519');
    second = await addKey(keysDir, 'other', 'ecdsa');
    await writeFile(path.join(keysDir, 'notes.txt'), 'not a key\n');
    debian = new DockerExecutor({ docker, jobId: uniqueJobId('ssh-keys'), containers: [{ image: DEBIAN }] });
    nonRoot = new DockerExecutor({ docker, jobId: uniqueJobId('ssh-keys-user'), containers: [{ image: BUSYBOX, user: '1000:1000' }] });
    await Promise.all([debian.prepare(), nonRoot.prepare()]);
  });
  after(async () => {
    await Promise.all([debian?.teardown(), nonRoot?.teardown()]);
    await rm(scratch, { recursive: true, force: true });
  });

  it('installs every key of the folder, and ssh resolves them as identities', async () => {
    const { ctx, output } = testContext(debian, { inputs: { sshKeysDir: keysDir } });
    const result = await addSshKeysStep(step(), ctx);
    assert.equal(result.status, 'success', output.agent);

    assert.equal(
      await shell(debian, `cd /root/.ssh && stat -c '%a %n' . ${first.installedAs} ${second.installedAs} config`),
      `700 .\n600 ${first.installedAs}\n600 ${second.installedAs}\n600 config\n`,
    );
    // The key file arrives byte for byte (plus the final newline ssh wants).
    const original = await readFile(first.file, 'utf8');
    assert.equal(await shell(debian, `cat /root/.ssh/${first.installedAs}`), original.endsWith('\n') ? original : `${original}\n`);

    // ssh's own resolution of its config: both files are identities for any host.
    const resolved = await shell(debian, 'ssh -G git.example.invalid | grep ^identityfile');
    assert.match(resolved, new RegExp(`identityfile /root/.ssh/${first.installedAs}\\n`));
    assert.match(resolved, new RegExp(`identityfile /root/.ssh/${second.installedAs}\\n`));

    // Fingerprints only, never key material; the non-key file is named as skipped.
    assert.match(output.agent, new RegExp(`Added SSH key ${escape(first.sha256)} \\(MD5 ${first.md5}, ssh-ed25519\\) as /root/.ssh/${first.installedAs}\\n`));
    assert.match(output.agent, new RegExp(`Added SSH key ${escape(second.sha256)} \\(MD5 ${second.md5}, ecdsa-sha2-nistp256\\)`));
    assert.match(output.agent, /Skipped .*notes\.txt is not a private key/);
    assert.doesNotMatch(output.agent, /PRIVATE KEY/);
  });

  it('adds nothing twice when it runs again', async () => {
    const { ctx } = testContext(debian, { inputs: { sshKeysDir: keysDir } });
    assert.equal((await addSshKeysStep(step(), ctx)).status, 'success');
    assert.equal(await shell(debian, `grep -c IdentityFile /root/.ssh/config`), '2\n');
  });

  it('installs only the keys named by fingerprint, MD5 or SHA256', async () => {
    for (const [fingerprint, home] of [
      [second.md5, '/tmp/by-md5'],
      [second.sha256, '/tmp/by-sha256'],
    ] as const) {
      const { ctx, output } = testContext(debian, { home, inputs: { sshKeysDir: keysDir } });
      const result = await addSshKeysStep(step([fingerprint]), ctx);
      assert.equal(result.status, 'success', output.agent);
      assert.equal(await shell(debian, `ls ${home}/.ssh`), `config\n${second.installedAs}\n`, fingerprint);
      assert.equal(await shell(debian, `cat ${home}/.ssh/config`), `\nHost *\n  IdentityFile "${home}/.ssh/${second.installedAs}"\n`);
    }
  });

  it('fails naming a fingerprint that no key has, and the folder', async () => {
    const missing = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const { ctx, output } = testContext(debian, { home: '/tmp/missing', inputs: { sshKeysDir: keysDir } });
    const result = await addSshKeysStep(step([first.md5, missing]), ctx);
    assert.equal(result.status, 'failed');
    assert.equal(
      result.message,
      `add_ssh_keys: no private key with fingerprint ${missing} among the 2 keys in ${keysDir}; put that key in ${keysDir} (one key per file) or remove the fingerprint from the step`,
    );
    assert.match(output.agent, /no private key with fingerprint/);
    assert.equal(await shell(debian, 'test -e /tmp/missing/.ssh && echo installed || echo nothing'), 'nothing\n');
  });

  it('with no keys folder, adds nothing and says so; with a fingerprint, fails', async () => {
    const absent = path.join(scratch, 'absent');
    const all = testContext(debian, { inputs: { sshKeysDir: absent } });
    assert.equal((await addSshKeysStep(step(), all.ctx)).status, 'success');
    assert.equal(all.output.agent, `no keys folder ${absent}: no SSH keys added (put private keys there, one per file)\n`);

    const named = testContext(debian, { inputs: { sshKeysDir: absent } });
    const result = await addSshKeysStep(step([first.md5]), named.ctx);
    assert.equal(result.status, 'failed');
    assert.match(result.message ?? '', new RegExp(`fingerprint ${first.md5} because the keys folder ${escape(absent)} does not exist`));
  });

  it("gives the keys to the container's user, in an image without ssh", async () => {
    const { ctx, output } = testContext(nonRoot, { home: '/tmp/user-home', inputs: { sshKeysDir: keysDir } });
    const result = await addSshKeysStep(step([first.sha256]), ctx);
    assert.equal(result.status, 'success', output.agent);
    assert.equal(await shell(nonRoot, `stat -c '%u:%g %a' /tmp/user-home/.ssh /tmp/user-home/.ssh/${first.installedAs} /tmp/user-home/.ssh/config`), '1000:1000 700\n1000:1000 600\n1000:1000 600\n');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
