/**
 * `deckhand agent run` end to end, with the real CLI, a real Docker engine and the local test
 * images: the assignment `execute --print-assignment` writes runs the same job with the same
 * output; bad assignments stop before anything starts; the core's own limits hold.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { BUSYBOX, deckhandBin, execute, job, project } from '../support/execute.js';
import { leftByEndedRuns, newLeftovers } from '../support/leftovers.js';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** `deckhand agent run` in `dir` with its own DECKHAND_HOME; `input` goes to stdin. */
function agentRun(dir: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Run {
  const r = spawnSync(process.execPath, [deckhandBin, 'agent', 'run', '--no-color', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), ...env },
    timeout: 120_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A job's log with what differs between two runs of it (ids, times, sizes that include them) made equal. */
function normalised(log: string): string {
  return log
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID')
    .replace(/\d+(\.\d+)?m?s\b/g, 'T')
    .replace(/Copied .*\n/g, 'Copied\n')
    .replace(/Time to start containers: .*\n/g, '');
}

describe('deckhand agent run', { concurrency: false, timeout: 300_000 }, () => {
  test('execute --print-assignment, then agent run: the same job, the same step output, no secret in the assignment', () => {
    const steps = [
      '      - checkout',
      '      - run: echo "node $CIRCLE_NODE_INDEX/$CIRCLE_NODE_TOTAL of $CIRCLE_JOB, token $API_TOKEN"; cat README',
      '      - run:',
      '          name: fails',
      '          command: echo to stderr >&2; exit 3',
      '      - run:',
      '          name: after failure',
      '          when: on_fail',
      '          command: echo cleaning up',
    ].join('\n');
    const dir = project(job(BUSYBOX, steps), { README: 'read me\n' });
    const secret = 's3cr3t-value-123';
    const direct = execute(dir, ['-e', `API_TOKEN=${secret}`, '--node-total', '3', '--index', '2']);
    assert.equal(direct.code, 1, direct.err);

    const printed = spawnSync(process.execPath, [deckhandBin, 'execute', '--print-assignment', '-e', `API_TOKEN=${secret}`, '--node-total', '3', '--index', '2'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
    });
    assert.equal(printed.status, 0, printed.stderr);
    assert.ok(!printed.stdout.includes(secret), 'the secret is not in the assignment');
    assert.match(printed.stderr, /the assignment reads \$API_TOKEN from the agent's environment/);
    const assignment = JSON.parse(printed.stdout) as JobAssignment;
    assert.deepEqual(assignment.secrets.project, { env: ['API_TOKEN'] });
    assert.equal(assignment.run.nodeIndex, 2);
    const file = join(dir, 'assignment.json');
    writeFileSync(file, printed.stdout);

    const log = join(dir, 'agent.log');
    const viaAgent = agentRun(dir, ['--assignment', file, '--log-file', log], { API_TOKEN: secret });
    assert.equal(viaAgent.code, 1, viaAgent.err);
    assert.equal(normalised(readFileSync(log, 'utf8')), normalised(direct.log), 'same log, line for line');
    assert.match(viaAgent.out, /node 2\/3 of build, token \*{8}/, 'masked as a project variable');
    assert.match(viaAgent.out, /read me/);
    assert.match(viaAgent.out, /cleaning up/);
    assert.ok(!viaAgent.out.includes(secret) && !readFileSync(log, 'utf8').includes(secret));

    // the same assignment from standard input; without the variable it names, nothing starts
    const fromStdin = agentRun(dir, ['--assignment', '-', '--log-file', join(dir, 'stdin.log')], { API_TOKEN: secret }, printed.stdout);
    assert.equal(fromStdin.code, 1, fromStdin.err);
    const missing = agentRun(dir, ['--assignment', file], { API_TOKEN: undefined });
    assert.equal(missing.code, 2);
    assert.equal(missing.err, "deckhand: the project variable is read from $API_TOKEN, which is not set in the agent's environment; set it, or change the assignment's reference\n");
    assert.equal(missing.out, '', 'nothing started');
  });

  test('a bad assignment file: one line with the JSON path, exit 2, nothing started', () => {
    const dir = project(job(BUSYBOX, '      - run: echo should not run'));
    const good = JSON.parse(spawnSync(process.execPath, [deckhandBin, 'execute', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } }).stdout) as Record<string, any>;
    const cases: [string, string, RegExp][] = [
      ['version', JSON.stringify({ ...good, assignmentVersion: 9 }), /^deckhand: invalid assignment .*bad\.json: \$\.assignmentVersion: version 9 is not supported; this deckhand reads version 1\n$/],
      ['type', JSON.stringify({ ...good, run: { ...good.run, nodeTotal: 'two' } }), /^deckhand: invalid assignment .*bad\.json: \$\.run\.nodeTotal: expected a whole number, got string "two"\n$/],
      ['missing', JSON.stringify({ ...good, limits: {} }), /^deckhand: invalid assignment .*bad\.json: \$\.limits\.resourceClass: missing \(required\)\n$/],
      ['not JSON', '{"assignmentVersion": 1', /^deckhand: assignment .*bad\.json is not JSON: .*\n$/],
    ];
    for (const [what, text, expected] of cases) {
      writeFileSync(join(dir, 'bad.json'), text);
      const r = agentRun(dir, ['--assignment', join(dir, 'bad.json')]);
      assert.equal(r.code, 2, `${what}: ${r.err}`);
      assert.match(r.err, expected, what);
      assert.equal(r.out, '', `${what}: nothing started`);
    }
    const absent = agentRun(dir, ['--assignment', join(dir, 'absent.json')]);
    assert.equal(absent.code, 2);
    assert.match(absent.err, /^deckhand: --assignment .*absent\.json cannot be read \(ENOENT\); give a file written by deckhand execute --print-assignment, or - for standard input\n$/);
  });

  test('a macos job is refused by the executor registry before anything starts, exit 2', () => {
    const dir = project('version: 2.1\njobs:\n  build:\n    macos:\n      xcode: 15.4.0\n    steps:\n      - run: echo should not run\n');
    const r = execute(dir, []);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^deckhand: job "build" uses the macos executor, which is not supported yet; Deckhand runs docker and machine jobs\n$/);
    assert.ok(!r.out.includes('should not run'));
  });

  test('limits.maxRunSeconds: a job that runs too long fails with the reason, exit 1, nothing left behind', () => {
    const dir = project(job(BUSYBOX, '      - run: echo started; sleep 60'));
    const printed = spawnSync(process.execPath, [deckhandBin, 'execute', '--print-assignment'], { cwd: dir, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    const assignment = JSON.parse(printed.stdout) as JobAssignment;
    assignment.limits.maxRunSeconds = 3;
    writeFileSync(join(dir, 'limited.json'), JSON.stringify(assignment));
    const before = leftByEndedRuns();
    const t0 = Date.now();
    const r = agentRun(dir, ['--assignment', join(dir, 'limited.json')]);
    const took = Date.now() - t0;
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /the job ran past its maximum run time of 3s \(limits\.maxRunSeconds\)/);
    assert.ok(took < 30_000, `ended ${took} ms after it started (limit 3 s, step grace 10 s)`);
    assert.deepEqual(newLeftovers(before), []);
  });
});
