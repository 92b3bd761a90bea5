// The checkout step against the real Docker engine: copying a local git
// repository (no git in the image), where it lands, who owns it, when it
// refuses, --skip-checkout, and a real clone over SSH from a service
// container running sshd.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { DockerExecutor } from '../../agent/executor/docker/docker-executor.js';
import type { Executor } from '../../agent/executor/executor.js';
import type { CheckoutStep } from '../../agent/jobspec/jobspec.js';
import { checkoutStep } from '../../agent/steps/checkout.js';
import { BUSYBOX, DEBIAN, collect, realEngine, uniqueJobId } from '../executor/docker/engine-fixture.js';
import { git, makeRepository, run, testContext, type ContextOptions } from './local-steps-fixture.js';

const step = (extra: Partial<CheckoutStep> = {}): CheckoutStep => ({ type: 'checkout', name: 'Checkout code', when: 'on_success', method: 'blobless', ...extra });

async function shell(executor: Executor, script: string): Promise<string> {
  const result = await collect(executor.exec({ command: ['/bin/sh', '-c', script] }));
  assert.equal(result.exitCode, 0, `${script}\n${result.stderr}`);
  return result.stdout;
}

describe('checkout of the local repository', () => {
  let scratch: string;
  let repo: string;
  let commit: string;
  let busybox: DockerExecutor;
  let nonRoot: DockerExecutor;
  const local = (options: ContextOptions = {}): ContextOptions => ({ ...options, inputs: { source: { kind: 'local', path: repo }, ...options.inputs } });

  before(async () => {
    const docker = await realEngine();
    scratch = await mkdtemp(path.join(tmpdir(), 'deckhand-checkout-'));
    repo = path.join(scratch, 'repo');
    commit = await makeRepository(repo);
    busybox = new DockerExecutor({ docker, jobId: uniqueJobId('checkout'), containers: [{ image: BUSYBOX }] });
    nonRoot = new DockerExecutor({ docker, jobId: uniqueJobId('checkout-user'), containers: [{ image: BUSYBOX, user: '1000:1000' }] });
    await Promise.all([busybox.prepare(), nonRoot.prepare()]);
  });
  after(async () => {
    await Promise.all([busybox?.teardown(), nonRoot?.teardown()]);
    await rm(scratch, { recursive: true, force: true });
  });

  it('copies tracked and untracked files and .git, keeps modes and symlinks, leaves ignored files out', async () => {
    const { ctx, output } = testContext(busybox, local({ workingDirectory: '/tmp/plain' }));
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'success', output.agent);

    const listing = await shell(busybox, 'cd /tmp/plain && find . -path "./.git/*" -prune -o -print | sort');
    assert.deepEqual(listing.trim().split('\n'), [
      '.',
      './.git',
      './.gitignore',
      './README.md',
      './bin',
      './bin/build.sh',
      './readme-link',
      './src',
      './src/deep',
      './src/deep/value.txt',
      './untracked.txt',
    ]);
    assert.equal(await shell(busybox, '/tmp/plain/bin/build.sh'), 'built\n');
    assert.equal(await shell(busybox, 'stat -c %a /tmp/plain/bin/build.sh /tmp/plain/README.md'), '755\n644\n');
    assert.equal(await shell(busybox, 'readlink /tmp/plain/readme-link; cat /tmp/plain/readme-link'), 'README.md\n# fixture\n');
    assert.equal(await shell(busybox, 'cat /tmp/plain/untracked.txt'), 'not committed yet\n');
    // .git came whole: HEAD, the branch ref with the commit, the objects.
    assert.equal(await shell(busybox, 'cat /tmp/plain/.git/HEAD /tmp/plain/.git/refs/heads/main'), `ref: refs/heads/main\n${commit}\n`);
    assert.equal(await shell(busybox, `test -f /tmp/plain/.git/objects/${commit.slice(0, 2)}/${commit.slice(2)} && echo object`), 'object\n');

    assert.match(output.agent, /Copying the work tree \(tracked and untracked, not ignored\) and \.git of .*repo into \/tmp\/plain\n/);
    assert.match(output.agent, /Copied \d+ files, \d+ directories, 1 symlinks \([\d.]+ (B|KiB)\) in [\d.]+s\n/);
  });

  it('checks out into `path`, relative to the working directory', async () => {
    const { ctx, output } = testContext(busybox, local({ workingDirectory: '/tmp/wd' }));
    const result = await checkoutStep(step({ path: 'nested/code' }), ctx);
    assert.equal(result.status, 'success', output.agent);
    assert.equal(await shell(busybox, 'cat /tmp/wd/nested/code/src/deep/value.txt; test -d /tmp/wd/nested/code/.git && echo git'), 'forty-two\ngit\n');
  });

  it('fails, like CircleCI, on a directory that is not empty and not a git repository', async () => {
    await shell(busybox, 'mkdir -p /tmp/occupied && echo mine > /tmp/occupied/keep.txt');
    const { ctx, output } = testContext(busybox, local({ workingDirectory: '/tmp/occupied' }));
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'failed');
    assert.equal(
      result.message,
      'checkout: /tmp/occupied is not empty and is not a git repository; empty it, or give the checkout step a `path` that is empty or a git checkout',
    );
    assert.match(output.agent, /is not empty and is not a git repository/);
    assert.equal(await shell(busybox, 'ls -A /tmp/occupied'), 'keep.txt\n', 'nothing was copied');
  });

  it('replaces an existing git checkout with the current files', async () => {
    const first = testContext(busybox, local({ workingDirectory: '/tmp/again' }));
    assert.equal((await checkoutStep(step(), first.ctx)).status, 'success');
    await shell(busybox, 'touch /tmp/again/.git/stale-marker');
    await writeFile(path.join(repo, 'untracked.txt'), 'changed locally\n');
    try {
      const second = testContext(busybox, local({ workingDirectory: '/tmp/again' }));
      const result = await checkoutStep(step(), second.ctx);
      assert.equal(result.status, 'success', second.output.agent);
      assert.match(second.output.agent, /already a git checkout: replacing its \.git and its files/);
      assert.equal(await shell(busybox, 'cat /tmp/again/untracked.txt; ls /tmp/again/.git | grep -c stale-marker || true'), 'changed locally\n0\n');
    } finally {
      await writeFile(path.join(repo, 'untracked.txt'), 'not committed yet\n');
    }
  });

  it('with --skip-checkout, copies nothing and says so', async () => {
    const { ctx, output } = testContext(busybox, { workingDirectory: '/tmp/skipped', inputs: { source: { kind: 'local', path: repo, skipCheckout: true } } });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'success');
    assert.equal(output.agent, 'Checkout skipped (--skip-checkout): using /tmp/skipped as it is\n');
    assert.equal(await shell(busybox, 'test -e /tmp/skipped && echo exists || echo absent'), 'absent\n');
  });

  it('copies a folder that is not a git repository whole, and says so', async () => {
    const folder = path.join(scratch, 'not-git');
    await mkdir(path.join(folder, 'a'), { recursive: true });
    await writeFile(path.join(folder, 'a/one.txt'), '1\n');
    await writeFile(path.join(folder, 'ignored.log'), 'kept: nothing ignores it here\n');
    const { ctx, output } = testContext(busybox, { workingDirectory: '/tmp/folder', inputs: { source: { kind: 'local', path: folder } } });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'success', output.agent);
    assert.match(output.agent, /not-git is not a git repository: copying the whole folder\n/);
    assert.equal(await shell(busybox, 'cd /tmp/folder && find . | sort'), '.\n./a\n./a/one.txt\n./ignored.log\n');
  });

  it("gives the files to the container's user, so a non-root job can write them", async () => {
    const { ctx, output } = testContext(nonRoot, local({ workingDirectory: '/tmp/owned', home: '/tmp' }));
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'success', output.agent);
    const owners = await shell(nonRoot, 'cd /tmp/owned && find . -exec stat -c %u:%g {} + | sort -u');
    assert.equal(owners, '1000:1000\n');
    await shell(nonRoot, 'cd /tmp/owned && echo more >> README.md && touch .git/objects/new src/deep/new && mkdir bin/more');
  });

  it('fails with a clear message when the copy cannot be made', async () => {
    // A non-root user cannot create a directory under /
    const { ctx } = testContext(nonRoot, local({ workingDirectory: '/forbidden/project', home: '/tmp' }));
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'failed');
    assert.match(result.message ?? '', /^cannot create \/forbidden\/project in the primary container: .*Permission denied/);
  });
});

describe('checkout in an image with git', () => {
  let scratch: string;
  let repo: string;
  let commit: string;
  let executor: DockerExecutor;
  const key = ssh2.utils.generateKeyPairSync('ed25519');
  const url = 'ssh://root@localhost:2222/srv/repo.git';

  before(async () => {
    const docker = await realEngine();
    scratch = await mkdtemp(path.join(tmpdir(), 'deckhand-checkout-git-'));
    repo = path.join(scratch, 'repo');
    commit = await makeRepository(repo);
    await git(repo, 'checkout', '-q', '-b', 'feature');
    await writeFile(path.join(repo, 'feature.txt'), 'on the branch\n');
    await git(repo, 'add', 'feature.txt');
    await git(repo, 'commit', '-q', '-m', 'feature');
    await git(repo, 'checkout', '-q', 'main');
    await run('git', ['clone', '-q', '--bare', repo, path.join(scratch, 'repo.git')]);
    const bareRepository = (await run('sh', ['-c', 'tar -C "$0" -czf - repo.git | base64 -w0', scratch])).trim();

    // The git server: sshd in a service container, which shares the primary's localhost.
    const server = [
      'set -e',
      'mkdir -p /srv /run/sshd /root/.ssh',
      'echo "$BARE_REPOSITORY" | base64 -d | tar -xz -C /srv',
      'echo "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys',
      'chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys',
      'ssh-keygen -A >/dev/null',
      'exec /usr/sbin/sshd -D -e -p 2222',
    ].join('\n');
    executor = new DockerExecutor({
      docker,
      jobId: uniqueJobId('checkout-git'),
      containers: [
        { image: DEBIAN },
        { image: DEBIAN, name: 'git-server', command: ['/bin/sh', '-c', server], environment: { BARE_REPOSITORY: bareRepository, AUTHORIZED_KEY: key.public } },
      ],
    });
    await executor.prepare();
    // Wait for sshd (bash's /dev/tcp: the minbase image has no nc).
    const waitForSshd = 'for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/2222) 2>/dev/null && exit 0; sleep 0.1; done; echo sshd did not start >&2; exit 1';
    const ready = await collect(executor.exec({ command: ['bash', '-c', waitForSshd] }));
    assert.equal(ready.exitCode, 0, ready.stderr);
  });
  after(async () => {
    await executor?.teardown();
    await rm(scratch, { recursive: true, force: true });
  });

  it('copies a .git that git in the container accepts: same commit, untracked file untracked', async () => {
    const { ctx, output } = testContext(executor, { workingDirectory: '/root/local', inputs: { source: { kind: 'local', path: repo } } });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'success', output.agent);
    assert.equal(await shell(executor, 'cd /root/local && git rev-parse HEAD && git status --porcelain'), `${commit}\n?? untracked.txt\n`);
  });

  it('clones CIRCLE_REPOSITORY_URL over SSH with the checkout key and checks out the branch at CIRCLE_SHA1', async () => {
    const { ctx, output } = testContext(executor, {
      workingDirectory: '/root/project',
      inputs: { source: { kind: 'git', url: url, branch: 'main', revision: commit }, checkoutKey: { material: key.private, source: 'the checkout key' } },
    });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'success', `${output.agent}${output.stdout}${output.stderr}`);
    assert.match(output.agent, new RegExp(`^Cloning ${url} over SSH with checkout key SHA256:\\S+ \\(ssh-ed25519\\)\\n`));
    assert.match(output.stdout, /Cloning ssh:\/\/root@localhost:2222\/srv\/repo\.git into \/root\/project/);
    assert.equal(
      await shell(executor, 'cd /root/project && git rev-parse HEAD && git rev-parse --abbrev-ref HEAD && git config gc.auto && git status --porcelain && stat -c %a bin/build.sh'),
      `${commit}\nmain\n0\n755\n`,
    );
    // Blobless: the clone records the filter for later fetches.
    assert.equal(await shell(executor, 'git -C /root/project config remote.origin.partialclonefilter'), 'blob:none\n');
    assert.equal(await shell(executor, 'stat -c %a /root/.ssh /root/.ssh/id_rsa'), '700\n600\n');
  });

  it('fetches into an existing clone for another branch, without CIRCLE_SHA1 taking its tip', async () => {
    const { ctx, output } = testContext(executor, {
      workingDirectory: '/root/project',
      inputs: { source: { kind: 'git', url: url, branch: 'feature' }, checkoutKey: { material: key.private, source: 'the checkout key' } },
    });
    const result = await checkoutStep(step({ method: 'full' }), ctx);
    assert.equal(result.status, 'success', `${output.stdout}${output.stderr}`);
    assert.match(output.stdout, /Fetching into the existing git checkout in \/root\/project/);
    const tip = (await git(repo, 'rev-parse', 'feature')).trim();
    assert.equal(await shell(executor, 'cd /root/project && git rev-parse HEAD && git rev-parse --abbrev-ref HEAD && cat feature.txt'), `${tip}\nfeature\non the branch\n`);
  });

  it('fails when the remote does not have CIRCLE_SHA1', async () => {
    const { ctx, output } = testContext(executor, {
      workingDirectory: '/root/missing-commit',
      inputs: { source: { kind: 'git', url: url, branch: 'main', revision: '0123456789abcdef0123456789abcdef01234567' }, checkoutKey: { material: key.private, source: 'the checkout key' } },
    });
    const result = await checkoutStep(step({ method: 'full' }), ctx);
    assert.equal(result.status, 'failed');
    assert.equal(result.message, `cloning ${url} failed (exit 1)`);
    assert.match(output.stderr, /checkout: commit 0123456789abcdef0123456789abcdef01234567 is not in branch main of ssh:/);
  });

  it('fails when the key is refused', async () => {
    const other = ssh2.utils.generateKeyPairSync('ed25519');
    const { ctx, output } = testContext(executor, {
      workingDirectory: '/root/refused',
      inputs: { source: { kind: 'git', url: url, branch: 'main' }, checkoutKey: { material: other.private, source: 'the checkout key' } },
    });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'failed');
    assert.match(output.stderr, /Permission denied \(publickey/);
  });

  it('rejects a checkout key that is no private key, naming where it came from', async () => {
    const keyFile = path.join(scratch, 'checkout_key');
    await writeFile(keyFile, key.public);
    const { ctx } = testContext(executor, {
      workingDirectory: '/root/badkey',
      inputs: { source: { kind: 'git', url: url }, checkoutKey: { material: key.public, source: keyFile } },
    });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'failed');
    assert.equal(result.message, `checkout: ${keyFile} is a public key, not a private key; give an unencrypted private key`);
  });
});

describe('remote checkout in an image without git', () => {
  let executor: DockerExecutor;
  before(async () => {
    executor = new DockerExecutor({ docker: await realEngine(), jobId: uniqueJobId('checkout-nogit'), containers: [{ image: BUSYBOX }] });
    await executor.prepare();
  });
  after(() => executor?.teardown());

  it('says that git is missing', async () => {
    const key = ssh2.utils.generateKeyPairSync('ed25519');
    const { ctx, output } = testContext(executor, {
      inputs: { source: { kind: 'git', url: 'ssh://git@example.invalid/repo.git', branch: 'main' }, checkoutKey: { material: key.private, source: 'the checkout key' } },
    });
    const result = await checkoutStep(step(), ctx);
    assert.equal(result.status, 'failed');
    assert.match(output.stderr, /^checkout: git is not installed in the primary container; use an image with git and ssh/);
  });
});
