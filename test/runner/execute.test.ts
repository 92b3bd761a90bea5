/**
 * images. Each test writes a config into a fresh git repository and runs one job.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { BUSYBOX, DEBIAN, deckhandBin, execute, job, project } from '../support/execute.js';
import { containersOwnedBy, leftByEndedRuns, newLeftovers } from '../support/leftovers.js';

const bin = deckhandBin;

let before: string[] = [];
/** What this test's runs left on the engine. */
function leftovers(): string[] {
  return newLeftovers(before);
}

/** Runs `deckhand execute` in `dir` and calls `act` once the step has printed "started". */
async function actOnceStarted(dir: string, act: (child: ChildProcess) => void): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [bin, 'execute', '--no-color', '--log-file', join(dir, 'job.log')], {
    cwd: dir,
    env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
  });
  let out = '';
  let acted = false;
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    // the command's own output line, not the header that shows the command
    if (!acted && /\nstarted\n/.test(out)) {
      acted = true;
      act(child);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, out };
}

describe('deckhand execute', { concurrency: false }, () => {
  beforeEach(() => {
    before = leftByEndedRuns();
  });

  test('a passing job: step headers, output, exit 0, full log, nothing left behind', () => {
    const dir = project(job(BUSYBOX, '      - checkout\n      - run: echo hello from $CIRCLE_JOB; cat README\n      - run:\n          name: second\n          command: echo two'), { README: 'read me\n' });
    const r = execute(dir, []);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /hello from build/);
    assert.match(r.out, /read me/);
    assert.match(r.out, /second/);
    assert.match(r.out, /#!\/bin\/sh -eo pipefail/, 'busybox has no bash: the default shell is sh');
    assert.match(r.log, /hello from build/);
    assert.deepEqual(leftovers(), []);
  });

  test('a failing step fails the job; on_fail and always steps run, on_success steps do not', () => {
    const dir = project(job(BUSYBOX, [
      '      - run: echo before',
      '      - run: exit 3',
      '      - run: echo should-not-run',
      '      - run: {command: echo on-fail-ran, when: on_fail}',
      '      - run: {command: echo always-ran, when: always}',
    ].join('\n')));
    const r = execute(dir, []);
    assert.equal(r.code, 1);
    assert.match(r.out, /Exited with code exit status 3/);
    assert.doesNotMatch(r.out, /should-not-run\n/);
    assert.match(r.out, /on-fail-ran/);
    assert.match(r.out, /always-ran/);
  });

  test('bash images use bash -eo pipefail and source $BASH_ENV in every step', () => {
    const dir = project(job(DEBIAN, [
      '      - run: echo \'export FROM_BASH_ENV=yes\' >> "$BASH_ENV"',
      '      - run: echo "bash=$BASH_VERSION env=$FROM_BASH_ENV"',
      '      - run: false | true',
    ].join('\n')));
    const r = execute(dir, []);
    assert.equal(r.code, 1, 'pipefail makes `false | true` fail');
    assert.match(r.out, /#!\/bin\/bash -eo pipefail/);
    assert.match(r.out, /bash=5\.\S+ env=yes/);
  });

  test('service containers are reachable on localhost and by name', () => {
    const cfg = `version: 2.1
jobs:
  build:
    docker:
      - image: ${BUSYBOX}
      - image: ${BUSYBOX}
        name: web
        command: ["sh", "-c", "mkdir -p /www && echo served > /www/index.html && httpd -f -p 8080 -h /www"]
    steps:
      - run: for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://localhost:8080/ && break; sleep 0.3; done
      - run: wget -q -O- http://web:8080/
`;
    for (const flags of [[], ['--isolate-network']]) {
      const r = execute(project(cfg), flags);
      assert.equal(r.code, 0, r.out + r.err);
      assert.equal(r.out.match(/\nserved\n/g)?.length, 2, flags.join(' '));
      assert.deepEqual(leftovers(), []);
    }
  });

  test("a primary's environment is for its own process: steps do not see it", () => {
    const cfg = `version: 2.1
jobs:
  build:
    docker:
      - image: ${BUSYBOX}
        environment: {ONLY_FOR_CONTAINER: container-value}
    steps:
      - run: echo "seen=[$ONLY_FOR_CONTAINER]"
`;
    const r = execute(project(cfg), []);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /seen=\[\]/);
  });

  test('background steps run on while later steps run, and their output is shown', () => {
    const dir = project(job(BUSYBOX, [
      '      - run: {command: "sleep 1; echo background-$((1+1))", background: true}',
      '      - run: echo foreground-$((0+1)); sleep 3; echo foreground-$((1+2))',
    ].join('\n')));
    const r = execute(dir, []);
    assert.equal(r.code, 0, r.out + r.err);
    // the printed values (not the commands in the headers): first, then background, then last
    const at = (s: string) => r.out.indexOf(`\n${s}\n`);
    assert.ok(at('foreground-1') > 0 && at('foreground-1') < at('background-2'), r.out);
    assert.ok(at('background-2') < at('foreground-3'), r.out);
  });

  test('no_output_timeout fails the step with CircleCI\'s message', () => {
    const dir = project(job(BUSYBOX, '      - run: {command: "echo start; sleep 30", no_output_timeout: 2s}'));
    const started = Date.now();
    const r = execute(dir, []);
    assert.equal(r.code, 1);
    assert.match(r.out, /Too long with no output \(exceeded 2s\): context deadline exceeded/);
    assert.ok(Date.now() - started < 25_000, 'the step was stopped');
  });

  test('project and context values are masked in output, the env listing and the log', () => {
    const dir = project(job(BUSYBOX, '      - run: echo "secret is $API_TOKEN and $FROM_CONTEXT, short $SHORT"'));
    mkdirSync(join(dir, '.home'));
    writeFileSync(join(dir, '.home', 'contexts.yml'), 'deploy:\n  FROM_CONTEXT: context-value-42\n');
    const r = execute(dir, ['-e', 'API_TOKEN=hunter2hunter2', '-e', 'SHORT=abc', '--context', 'deploy']);
    assert.equal(r.code, 0, r.out + r.err);
    for (const text of [r.out, r.log]) {
      assert.doesNotMatch(text, /hunter2hunter2|context-value-42/);
      assert.match(text, /secret is \*{8} and \*{8}, short abc/);
    }
    assert.match(r.out, /API_TOKEN=\*{8}/, 'the env listing shows masked values');
  });

  test('environment precedence: step > job > built-ins > contexts > project', () => {
    const cfg = `version: 2.1
jobs:
  build:
    docker: [{image: ${BUSYBOX}}]
    environment: {A: job, B: job}
    steps:
      - run: {command: 'echo "A=$A B=$B C=$C JOB=$CIRCLE_JOB NODE=$CIRCLE_NODE_INDEX/$CIRCLE_NODE_TOTAL CI=$CI"', environment: {A: step}}
`;
    // values under 4 characters are not masked, so they can be read back
    const r = execute(project(cfg), ['-e', 'A=pa', '-e', 'B=pb', '-e', 'C=pc', '-e', 'CIRCLE_JOB=pj', '--node-total', '3', '--index', '2']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /A=step B=job C=pc JOB=build NODE=2\/3 CI=true/);
  });

  test('circleci-agent step halt ends the job successfully; circleci tests split shares files', () => {
    const dir = project(job(BUSYBOX, [
      '      - run: printf "a\\nb\\nc\\nd\\n" | circleci tests split --split-by=name',
      '      - run: circleci-agent step halt',
      '      - run: exit 1',
    ].join('\n')));
    const r = execute(dir, ['--node-total', '2', '--index', '0']);
    assert.equal(r.code, 0, r.out + r.err);
    assert.doesNotMatch(r.out, /Exited with code/);
  });

  test('max_auto_reruns reruns a failing step; a later attempt can pass', () => {
    const dir = project(job(BUSYBOX, [
      '      - run:',
      '          command: n=$(cat /tmp/tries 2>/dev/null || echo 0); echo $((n+1)) > /tmp/tries; echo "attempt $((n+1))"; [ $n -ge 2 ]',
      '          max_auto_reruns: 3',
      '          auto_rerun_delay: 1s',
    ].join('\n')));
    const r = execute(dir, []);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /attempt 1\n[\s\S]*attempt 2\n[\s\S]*attempt 3\n/);
    assert.match(r.out, /Rerunning the step \(attempt 2 of 4\) after 1s/);
  });

  test('--output json prints one event per line, output bytes included', () => {
    const dir = project(job(BUSYBOX, '      - run: echo json-out'));
    const r = execute(dir, ['--output', 'json']);
    assert.equal(r.code, 0, r.out + r.err);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; text?: string; data?: string; status?: string });
    assert.equal(events[0].type, 'job-start');
    assert.equal(events.at(-1)?.type, 'job-end');
    assert.equal(events.at(-1)?.status, 'success');
    const output = events.filter((e) => e.type === 'output').map((e) => Buffer.from(e.data ?? '', 'base64').toString()).join('');
    assert.match(output, /\njson-out\n/);
  });

  test('a missing image is a clear error naming it, exit 2, nothing left behind', () => {
    const r = execute(project(job('deckhand-test/does-not-exist:1', '      - run: "true"')), ['--pull', 'never']);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(r.out + r.err, /deckhand-test\/does-not-exist:1/);
    assert.doesNotMatch(r.out + r.err, /\n\s+at /, 'no stack trace');
    assert.deepEqual(leftovers(), []);
  });

  test('usage errors exit 2 before anything starts', () => {
    const dir = project(job(BUSYBOX, '      - run: "true"'));
    assert.equal(execute(dir, ['--job', 'nope']).code, 2, 'an unknown job is a config error');
    assert.equal(execute(dir, ['--index', '3', '--node-total', '2']).code, 2);
    assert.equal(execute(dir, ['--pull', 'sometimes']).code, 2);
    assert.equal(execute(dir, ['--context', 'missing']).code, 2);
  });

  test('Ctrl-C stops the job, cleans up, exits 130', async () => {
    const r = await actOnceStarted(project(job(BUSYBOX, '      - run: echo started; sleep 60')), (child) => child.kill('SIGINT'));
    assert.equal(r.code, 130, r.out);
    assert.deepEqual(leftovers(), []);
  });

  test('a second Ctrl-C forces: containers go at once, even when the step ignores SIGTERM', async () => {
    const dir = project(job(BUSYBOX, "      - run: trap '' TERM; echo started; sleep 60"));
    const started = Date.now();
    const r = await actOnceStarted(dir, (child) => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGINT'), 500);
    });
    assert.equal(r.code, 130, r.out);
    assert.ok(Date.now() - started < 9000, 'did not wait for the 10 s kill grace period');
    assert.deepEqual(leftovers(), []);
  });

  test('the primary container removed mid-job: an infrastructure failure (exit 2) that says so, cleaned up, no stack trace', async () => {
    const r = await actOnceStarted(project(job(BUSYBOX, '      - run: echo started; sleep 60')), (child) => {
      // only this run's containers: other suites run jobs on the same engine
      const ours = containersOwnedBy(child.pid);
      assert.ok(ours.length > 0, 'the run\'s primary container was not found by its owner label');
      execFileSync('docker', ['rm', '-f', ...ours]);
    });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /^the primary container was removed while "[^"]*sleep 60" ran \(exit 137\): something outside the job removed it; rerun the job$/m);
    assert.doesNotMatch(r.out, /\n\s+at /);
    assert.deepEqual(leftovers(), []);
  });
});
