/**
 * The agent treated as a hostile tester would, end to end with the real CLI and engine: killed
 * with SIGKILL in each phase of a job (what it left is reclaimed by the next command), its stdout
 * closed under it (a cancel, exit 2, one line, nothing left), and secrets looked for in every place
 * they could land.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUSYBOX, deckhandBin, execute, executeAsync, job, project } from '../support/execute.js';
import { leftByEndedRuns, newLeftovers, ownedBy } from '../support/leftovers.js';

/** Whether the engine still has `id` (a container or a network). */
function stillThere(id: string): boolean {
  const list = (args: string[]) => execFileSync('docker', [...args, '--filter', `id=${id}`], { encoding: 'utf8' }).trim() !== '';
  return list(['ps', '-aq']) || list(['network', 'ls', '-q']);
}

describe('the agent killed in each phase of a job', { concurrency: false, timeout: 300_000 }, () => {
  const phases: [string, string, RegExp][] = [
    ['spin-up', '      - run: echo never-started', /Starting container/],
    ['a step', '      - run: echo started; sleep 60', /\nstarted\n/],
    ['an upload', '      - run: head -c 100000000 /dev/urandom > big.bin\n      - store_artifacts:\n          path: big.bin', /Uploading \S*big\.bin/],
    ['teardown', '      - run: echo last-step-done', /\nlast-step-done\n/],
  ];
  for (const [phase, steps, when] of phases) {
    test(`during ${phase}: the next command reclaims what it left, and nothing else`, async () => {
      const dir = project(job(BUSYBOX, steps, '      - image: deckhand-test/busybox:latest\n        name: svc\n        command: [sleep, "600"]\n'));
      const killed = await executeAsync(dir, ['--isolate-network'], {
        onOutput: (out, child) => {
          if (when.test(out) && child.exitCode === null && !child.killed) child.kill('SIGKILL');
        },
      });
      assert.equal(killed.signal, 'SIGKILL', `${phase}: ${killed.out.slice(-400)}`);
      // spin-up may be killed before anything was made, and teardown after it removed everything
      // (under load the agent is ahead of the reader); a step or an upload leaves the containers
      const left = ownedBy(killed.pid);
      if (phase === 'a step' || phase === 'an upload') assert.ok(left.length > 0, `${phase}: the killed agent left its containers`);
      const next = execute(project(job(BUSYBOX, '      - run: echo next job')), []);
      assert.equal(next.code, 0, next.err);
      for (const id of left) assert.ok(!stillThere(id), `${phase}: ${id.slice(0, 12)} was reclaimed`);
      if (left.length > 0) assert.match(next.err, /deckhand: reclaimed container \S+ of job deckhand-\S+: its agent \(pid \d+\) is gone/);
    });
  }
});

describe('a reader that closes stdout', { concurrency: false, timeout: 120_000 }, () => {
  for (const [when, after] of [
    ['during a step', 20_000],
    ['during spin-up', 1],
  ] as const) {
    test(`${when}: the job is stopped and cleaned up, its log completed, exit 2 with one line, never a stack trace`, async () => {
      const before = leftByEndedRuns();
      const dir = project(job(BUSYBOX, '      - run: yes "a line of output" | head -c 50000000\n      - run: echo never'));
      const r = await executeAsync(dir, [], {
        onOutput: (out, child) => {
          if (out.length >= after && !child.stdout.destroyed) child.stdout.destroy();
        },
      });
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err, `deckhand: stdout was closed by its reader while the job ran: the job was stopped and cleaned up; its full log is ${join(dir, 'job.log')}\n`);
      assert.doesNotMatch(r.err, /at .*\.js:\d+|internal error/);
      const log = readFileSync(join(dir, 'job.log'), 'utf8');
      assert.match(log, /Task canceled|canceled/);
      assert.doesNotMatch(log, /\nnever\n/);
      assert.deepEqual(newLeftovers(before), []);
    });
  }
});

describe('secrets, in every place they could land', { timeout: 120_000 }, () => {
  test('terminal, log file, NDJSON, JSON logs, the artifacts listing and the store\'s listing: masked; files readable by their owner only', () => {
    const secret = 'hunter2-xyzzy-secret';
    const steps = [
      '      - run: echo "to stdout $API_TOKEN"; echo "to stderr $API_TOKEN" >&2',
      '      - run: mkdir -p out && echo "$API_TOKEN" > "out/$API_TOKEN.txt" && ln -s /etc/passwd out/passwd',
      '      - store_artifacts:',
      '          path: out',
      '      - run: echo "failing with $API_TOKEN" >&2; exit 3',
    ].join('\n');
    const dir = project(job(BUSYBOX, steps));
    const text = execute(dir, ['-e', `API_TOKEN=${secret}`]);
    assert.equal(text.code, 1, text.err);
    const logs = execute(dir, ['-e', `API_TOKEN=${secret}`, '--log-format', 'json']);
    assert.equal(logs.code, 1, logs.err);
    const json = spawnSync(process.execPath, [deckhandBin, 'execute', '--output', 'json', '-e', `API_TOKEN=${secret}`, '--log-file', join(dir, 'json.log')], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    assert.equal(json.status, 1, json.stderr);
    for (const [where, content] of [
      ['terminal', text.out],
      ['stderr', text.err],
      ['stderr (JSON logs)', logs.err],
      ['terminal with JSON logs', logs.out],
      ['log file', text.log],
      ['NDJSON', json.stdout],
      ['NDJSON run\'s stderr', json.stderr],
      ['second log file', readFileSync(join(dir, 'json.log'), 'utf8')],
    ] as const) {
      assert.ok(!content.includes(secret), `${where} holds the secret`);
    }
    assert.match(text.out, /to stdout \*{8}/);
    assert.match(text.out, /out\/\*{8}\.txt/, 'the artifacts listing masks a path holding the secret');
    const runId = /Artifacts of job run (\S+):/.exec(text.out)?.[1];
    assert.ok(runId, text.out);
    // the symlink to a file outside the job is not an artifact: never stored, never served
    const listed = spawnSync(process.execPath, [deckhandBin, 'artifacts', 'list', runId, '--json'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    assert.equal(listed.status, 0, listed.stderr);
    assert.doesNotMatch(listed.stdout, /passwd/);
    const got = spawnSync(process.execPath, [deckhandBin, 'artifacts', 'get', runId, 'out/passwd'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    assert.notEqual(got.status, 0);
    assert.doesNotMatch(got.stdout, /root:/);
    // what the job left on disk is its owner's alone
    const mode = (path: string) => statSync(path).mode & 0o777;
    assert.equal(mode(join(dir, 'job.log')), 0o600);
    assert.equal(mode(join(dir, '.home', 'store')), 0o700);
    const stored = execFileSync('find', [join(dir, '.home', 'store'), '-type', 'f'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.ok(stored.length > 0);
    for (const file of stored) assert.equal(mode(file), 0o600, file);
    const folders = execFileSync('find', [join(dir, '.home', 'store'), '-type', 'd'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const folder of folders) assert.equal(mode(folder), 0o700, folder);
  });
});
