/**
 * `machine` jobs end to end, with the real CLI: VMs from the docker provider (containers of
 * Deckhand's VM image with their own sshd and Docker engine) and from a static pool, steps over
 * SSH. Checkout, run, caches, workspaces, artifacts, test results, background steps,
 * no_output_timeout, halt; a VM lost mid-step; two jobs sharing one pool host; a host whose key
 * is not the one in the pool.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { DockerVmProvider } from '../../agent/vm/docker-provider.js';
import type { Vm } from '../../agent/vm/provider.js';
import { deckhandBin, execute, project } from '../support/execute.js';
import { containersOwnedBy, leftByEndedRuns, newLeftovers } from '../support/leftovers.js';
import { uniqueScope, vmRequest } from '../vm/vm-fixture.js';

const MACHINE_JOB = `version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - run: echo "as $(id -un) in $(pwd) on node $CIRCLE_NODE_INDEX"; cat README
      - restore_cache:
          keys:
            - v1-{{ checksum "README" }}
      - run: if [ -f cached/file ]; then echo "restored $(cat cached/file)"; else echo nothing-restored; fi
      - run: mkdir -p cached && echo "cached at $(date +%s%N)" > cached/file && cat cached/file
      - save_cache:
          key: v1-{{ checksum "README" }}
          paths: [cached]
      - run: mkdir -p ws reports && echo from-build > ws/w.txt && echo artifact-bytes > art.txt && printf '<testsuite name="s" tests="1"><testcase classname="c" name="passes" time="0.1"/></testsuite>' > reports/junit.xml
      - persist_to_workspace:
          root: ws
          paths: [w.txt]
      - store_test_results:
          path: reports
      - store_artifacts:
          path: art.txt
      - run:
          background: true
          command: while true; do echo bg-tick; sleep 0.2; done
      - run: sleep 1; docker run --rm deckhand-test/busybox:latest echo docker on the machine 2>&1 | tail -1 || true
      - run: circleci-agent step halt; echo halting
      - run: echo after-halt-should-not-run
  check:
    machine: true
    steps:
      - attach_workspace:
          at: got
      - run: cat got/w.txt
  silent:
    machine: true
    steps:
      - run:
          no_output_timeout: 1s
          command: echo quiet now; sleep 20
workflows:
  main:
    jobs:
      - build
      - check:
          requires: [build]
`;

describe('machine jobs', { concurrency: false, timeout: 600_000 }, () => {
  let before0: string[] = [];
  before(() => {
    before0 = leftByEndedRuns();
  });
  after(() => {
    assert.deepEqual(newLeftovers(before0), [], 'every VM and container is gone');
  });

  test('a machine job on a docker-provider VM: checkout, cache, workspace, artifacts, test results, background step, halt', () => {
    const dir = project(MACHINE_JOB, { README: 'read me on a VM\n' });
    const first = execute(dir, ['--job', 'build']);
    assert.equal(first.code, 0, first.out + first.err);
    assert.match(first.out, /Acquired VM [0-9a-f]{12} from the docker provider in [\d.]+s: circleci@127\.0\.0\.1:\d+, host key SHA256:\S+\n/);
    assert.match(first.out, /as circleci in \/home\/circleci\/project on node 0\nread me on a VM\n/);
    assert.match(first.out, /No cache is found for key: v1-/);
    assert.match(first.out, /\nnothing-restored\n/);
    assert.match(first.out, /\nStored Cache to v1-/);
    assert.match(first.out, /\nUploaded 1 artifact, 15 B, to /);
    assert.match(first.out, /\n1 test, 0 failures, 0 errors, 0 skipped in 0\.100s \(1 result file\)\n/);
    assert.match(first.out, /\nbg-tick\n/);
    assert.match(first.out, /docker on the machine/, 'the VM runs a Docker engine, as a CircleCI machine does');
    assert.match(first.out, /halting/);
    assert.doesNotMatch(first.out, /\nafter-halt-should-not-run\n/);

    const second = execute(dir, ['--job', 'build']);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(second.out, /\nFound a cache from build \d+ at v1-/);
    const saved = /\ncached at (\d+)\n/.exec(first.out)?.[1];
    assert.ok(saved, first.out);
    assert.match(second.out, new RegExp(`\\nrestored cached at ${saved}\\n`), 'the second VM got the first one\'s cache');
  });

  test('deckhand run: a workspace persisted on one VM is attached on another', () => {
    const dir = project(MACHINE_JOB, { README: 'workflow\n' });
    const r = execute(dir, ['--job', 'build']);
    assert.equal(r.code, 0, r.err);
    const run = spawnRun(dir, ['--workflow', 'main']);
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /\[check\]\s+from-build\n/);
  });

  test('no_output_timeout on a machine: the silent step times out, exit 1', () => {
    const dir = project(MACHINE_JOB);
    const r = execute(dir, ['--job', 'silent']);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /Too long with no output \(exceeded 1s\)/);
  });

  test('a VM killed mid-step: exit 2, one clear reason, nothing left behind', async () => {
    const dir = project('version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: echo started; sleep 60\n      - run:\n          when: always\n          command: echo never\n');
    const r = await runUntil(dir, ['execute', '--job', 'build'], /\nstarted\n/, (child) => {
      // only this run's VM: other suites run jobs on the same engine
      const vms = containersOwnedBy(child.pid, 'label=com.deckhand.vm.purpose=machine');
      assert.equal(vms.length, 1, 'the run\'s VM was not found by its owner label');
      execFileSync('docker', ['kill', ...vms]);
    });
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.out, /lost the connection to VM 127\.0\.0\.1:\d+/);
    assert.doesNotMatch(r.out, /\nnever\n/);
  });

  describe('a static pool of one host', () => {
    let host: Vm;
    let dir: string;
    let pool: string;
    const scope = uniqueScope('pool-host');
    before(async () => {
      // the pool's one host: a VM of Deckhand's image, started here as a machine an operator keeps
      host = await new DockerVmProvider({ scope }).acquire(vmRequest(scope));
      dir = project('version: 2.1\njobs:\n  a:\n    machine: true\n    steps:\n      - run: echo a-start $(date +%s%N); sleep 2; echo a-end $(date +%s%N)\n  b:\n    machine: true\n    steps:\n      - run: echo b-start $(date +%s%N)\nworkflows:\n  both:\n    jobs: [a, b]\n');
      writeFileSync(join(dir, 'host.key'), host.access.privateKey, { mode: 0o600 });
      pool = poolFile(dir, 'pool.yml', host, host.access.hostKey);
    });
    after(async () => {
      await host?.release();
    });

    test('two jobs at once: the second waits for the host, then runs', () => {
      const r = spawnRun(dir, ['--workflow', 'both', '--machine-provider', 'static', '--machine-pool', pool]);
      assert.equal(r.code, 0, r.out + r.err);
      const n = (name: string) => BigInt(new RegExp(`${name} (\\d+)`).exec(r.out)?.[1] ?? '0');
      const [aStart, aEnd, bStart] = [n('a-start'), n('a-end'), n('b-start')];
      assert.ok(aStart > 0n && bStart > 0n, r.out);
      // one host: the jobs ran one after the other, whichever came first
      assert.ok(bStart > aEnd || bStart < aStart, `b started at ${bStart}, a ran ${aStart}..${aEnd}`);
      assert.match(r.out, /Acquired VM \S+ from the static provider/);
    });

    test('a host whose key is not the one in the pool file is refused: exit 2, nothing run', () => {
      const wrong = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(' ');
      const file = poolFile(dir, 'wrong.yml', host, wrong);
      const r = execute(dir, ['--job', 'b', '--machine-provider', 'static', '--machine-pool', file]);
      assert.equal(r.code, 2, r.out + r.err);
      assert.match(r.out, /presented host key SHA256:\S+, not the expected SHA256:\S+; refused/);
      assert.doesNotMatch(r.out, /b-start/);
    });
  });
});

/** A pool file listing `host` under the host key `hostKey`. */
function poolFile(dir: string, name: string, host: Vm, hostKey: string): string {
  const file = join(dir, name);
  writeFileSync(file, ['hosts:', '  - name: only', `    address: ${host.access.host}`, `    port: ${host.access.port}`, `    user: ${host.access.user}`, `    privateKeyFile: ${join(dir, 'host.key')}`, `    hostKey: ${hostKey}`, ''].join('\n'));
  return file;
}

/** `deckhand run` in `dir`, synchronously. */
function spawnRun(dir: string, args: string[]): { code: number | null; out: string; err: string } {
  const r = execFileSyncResult(process.execPath, [deckhandBin, 'run', '--no-color', '--log-dir', join(dir, 'logs'), ...args], dir);
  return r;
}

function execFileSyncResult(cmd: string, args: string[], cwd: string): { code: number | null; out: string; err: string } {
  try {
    const out = execFileSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(cwd, '.home') }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    return { code: 0, out, err: '' };
  } catch (error) {
    const e = error as { status: number | null; stdout: string; stderr: string };
    return { code: e.status, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

/** Runs deckhand in `dir`; calls `act` once stdout matches `when`. */
function runUntil(dir: string, args: string[], when: RegExp, act: (child: ChildProcess) => void): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [deckhandBin, ...args, '--no-color', '--log-file', join(dir, 'job.log')], { cwd: dir, env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    let out = '';
    let err = '';
    let acted = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!acted && when.test(out)) {
        acted = true;
        act(child);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out: out + (acted ? '' : '\n(never acted)'), err }));
  });
}

