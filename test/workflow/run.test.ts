/**
 * `deckhand run` end to end: the real CLI, a real Docker engine, the locally built busybox image.
 * Each test writes a config into a fresh git repository and runs a whole workflow.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { machineCapacity } from '../../agent/workflow/capacity.js';
import { BUSYBOX, deckhandBin as bin, project as repository } from '../support/execute.js';

const dirs: string[] = [];

interface Run {
  code: number | null;
  out: string;
  err: string;
  dir: string;
}

/** A git repository holding `.circleci/config.yml` with busybox jobs `name: [commands]` and the given workflows. */
function project(jobs: Record<string, string[] | { steps: string[]; extra: string }>, workflows: string): string {
  const body = Object.entries(jobs)
    .map(([name, j]) => {
      const { steps, extra } = Array.isArray(j) ? { steps: j, extra: '' } : j;
      return `  ${name}:\n    docker: [{image: ${BUSYBOX}}]\n    resource_class: small\n${extra}    steps:\n${steps.map((s) => `      - run: ${JSON.stringify(s)}`).join('\n')}\n`;
    })
    .join('');
  const dir = repository(`version: 2.1\njobs:\n${body}workflows:\n${workflows}`);
  dirs.push(dir);
  return dir;
}

function runArgs(dir: string, args: string[]): string[] {
  return [bin, 'run', '--no-color', '--log-dir', join(dir, 'logs'), ...args];
}

function env(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, DECKHAND_HOME: join(dir, '.home') };
}

function run(dir: string, args: string[] = []): Run {
  const r = spawnSync(process.execPath, runArgs(dir, args), { cwd: dir, encoding: 'utf8', env: env(dir), timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, dir };
}

function log(r: Run, job: string): string {
  return readFileSync(join(r.dir, 'logs', `${job}.log`), 'utf8');
}

/** The summary row of a job: [status, duration, note]. */
function row(r: Run, job: string): string {
  const line = r.out.split('\n').find((l) => l.startsWith(`${job} `) && /\s(success|failed|canceled|not run)\s/.test(l));
  assert.ok(line, `no summary row for ${job} in:\n${r.out}`);
  return line.slice(job.length).trim().replace(/\s{2,}/g, ' | ');
}

/** The most jobs between their "start" and "end" lines at once, read from the prefixed output. */
function peakConcurrency(out: string): number {
  let now = 0;
  let peak = 0;
  for (const line of out.split('\n')) {
    if (/^\[[\w-]+\]\s+start-marker$/.test(line)) peak = Math.max(peak, ++now);
    if (/^\[[\w-]+\]\s+end-marker$/.test(line)) now--;
  }
  return peak;
}

/**
 * Containers and networks left by the workflow runs in `dir`, and only theirs (other jobs may run
 * on this engine at the same time): `deckhand run` labels each job `deckhand-<first 8 characters
 * of the workflow run id>-…`, and the run's job logs name its CIRCLE_WORKFLOW_ID.
 */
function leftovers(dir: string): string[] {
  const logs = join(dir, 'logs');
  const ids = readdirSync(logs).flatMap((f) => /^ {2}CIRCLE_WORKFLOW_ID=(.+)$/m.exec(readFileSync(join(logs, f), 'utf8'))?.[1] ?? []);
  assert.ok(ids.length > 0, `no job log in ${logs} names its workflow run id`);
  const prefixes = [...new Set(ids)].map((id) => `deckhand-${id.slice(0, 8)}-`);
  const labelled = (args: string[]) =>
    execFileSync('docker', [...args, '--filter', 'label=com.deckhand.job', '--format', '{{.ID}} {{.Label "com.deckhand.job"}}'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' '));
  return [...labelled(['ps', '-a']), ...labelled(['network', 'ls'])].filter(([, job]) => prefixes.some((p) => job?.startsWith(p))).map(([id, job]) => `${id} ${job}`);
}

describe('deckhand run', { concurrency: false }, () => {
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('fan-out/fan-in: order by requires, prefixed lines, a log per job and parallel node, summary, exit 0', () => {
    const r = run(
      project(
        {
          a: ['echo ran-a'],
          b: ['echo ran-b'],
          c: { steps: ['echo ran-c on node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL'], extra: '    parallelism: 2\n' },
          d: ['echo ran-d'],
        },
        '  main:\n    jobs:\n      - a\n      - b: {requires: [a]}\n      - c: {requires: [a]}\n      - d: {requires: [b, c]}\n',
      ),
      ['--max-parallel', '3'],
    );
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^\[a\]\s+ran-a$/m);
    assert.match(r.out, /^\[c#1\]\s+ran-c on node 1 of 2$/m);
    const at = (s: string) => r.out.search(new RegExp(`^\\[\\w#?\\d?\\]\\s+${s}$`, 'm'));
    assert.ok(at('ran-a') < at('ran-b') && at('ran-a') < at('ran-c on node 0 of 2'), 'a before b and c');
    assert.ok(at('ran-b') < at('ran-d') && at('ran-c on node 1 of 2') < at('ran-d'), 'd after b and c');
    assert.match(r.out, /Workflow main: 4 success/);
    assert.match(row(r, 'c'), /^success/);
    assert.match(row(r, 'c'), /c_0\.log .*c_1\.log$/);
    assert.match(log(r, 'c_1'), /CIRCLE_NODE_INDEX=1/, 'the log has the full environment listing');
    assert.match(log(r, 'd'), /ran-d/);
    assert.doesNotMatch(log(r, 'd'), /\[d\]/, 'no prefixes in a job\'s own log');
    const id = (job: string, name: string) => new RegExp(`^  ${name}=(.+)$`, 'm').exec(log(r, job))?.[1];
    assert.ok(id('a', 'CIRCLE_WORKFLOW_ID'));
    assert.equal(id('a', 'CIRCLE_WORKFLOW_ID'), id('d', 'CIRCLE_WORKFLOW_ID'), 'one workflow id for every job of the run');
    assert.notEqual(id('a', 'CIRCLE_WORKFLOW_JOB_ID'), id('d', 'CIRCLE_WORKFLOW_JOB_ID'));
    assert.deepEqual(leftovers(r.dir), []);
  });

  test('workspaces flow downstream in workflow order; fan-in sees every layer; caches are shared', () => {
    const job = (steps: string) => `    docker: [{image: ${BUSYBOX}}]\n    resource_class: small\n    steps:\n${steps}`;
    const config = [
      'version: 2.1',
      'jobs:',
      '  a:',
      job('      - run: mkdir -p ws/deep && echo from-a > ws/a.txt && echo a > ws/shared.txt && echo deep > ws/deep/d.txt\n      - persist_to_workspace: {root: ws, paths: [a.txt, shared.txt, deep]}\n      - run: mkdir -p c && echo cached-by-a > c/v\n      - save_cache: {key: \"wf-cache-{{ .Revision }}\", paths: [c]}\n'),
      '  b:',
      job('      - attach_workspace: {at: ws}\n      - run: cat ws/a.txt && echo from-b > ws/b.txt && echo b > ws/shared.txt\n      - persist_to_workspace: {root: ws, paths: [b.txt, shared.txt]}\n'),
      '  c:',
      job('      - attach_workspace: {at: ws}\n      - run: test ! -e ws/b.txt && echo c-sees-no-b && echo from-c > ws/c.txt\n      - persist_to_workspace: {root: ws, paths: [c.txt]}\n      - restore_cache: {keys: [wf-cache-]}\n      - run: cat c/v\n'),
      '  d:',
      job('      - attach_workspace: {at: /tmp/w}\n      - run: echo fan-in $(cat /tmp/w/a.txt /tmp/w/b.txt /tmp/w/c.txt /tmp/w/deep/d.txt) shared=$(cat /tmp/w/shared.txt)\n'),
      'workflows:',
      '  main:',
      '    jobs:',
      '      - a',
      '      - b: {requires: [a]}',
      '      - c: {requires: [a]}',
      '      - d: {requires: [b, c]}',
      '',
    ].join('\n');
    const dir = repository(config);
    dirs.push(dir);
    const r = run(dir, ['--max-parallel', '2', '--store', join(dir, 'store')]);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^\[b\]\s+from-a$/m);
    assert.match(r.out, /^\[c\]\s+c-sees-no-b$/m, 'a job sees only its upstream jobs\' layers');
    assert.match(r.out, /^\[c\]\s+cached-by-a$/m, 'a cache saved by one job is restored by another');
    assert.match(r.out, /^\[d\]\s+fan-in from-a from-b from-c deep shared=b$/m, 'layers applied in workflow order: b\'s shared.txt over a\'s');
    assert.deepEqual(leftovers(r.dir), []);
  });

  test('a failing job: success-requirers not run (transitively), failed-requirers run, exit 1', () => {
    const r = run(
      project({ a: ['echo ran-a; exit 3'], b: ['echo ran-b'], c: ['echo ran-c'], cleanup: ['echo cleaning up'] }, [
        '  main:',
        '    jobs:',
        '      - a',
        '      - b: {requires: [a]}',
        '      - c: {requires: [b]}',
        '      - cleanup: {requires: [{a: failed}]}',
        '      - b: {name: either, requires: [{a: terminal}]}',
        '',
      ].join('\n')),
    );
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /^\[a\]\s+Exited with code exit status 3$/m);
    assert.match(row(r, 'a'), /^failed/);
    assert.equal(row(r, 'b'), 'not run | - | a ended failed');
    assert.equal(row(r, 'c'), 'not run | - | b ended not run');
    assert.match(row(r, 'cleanup'), /^success/);
    assert.match(row(r, 'either'), /^success/);
    assert.doesNotMatch(r.out, /^\[(b|c)\]\s+ran-/m);
    assert.match(r.out, /^\[cleanup\]\s+cleaning up$/m);
  });

  test('branch and tag filters decide which jobs run', () => {
    const dir = project({ build: ['echo ran-build'], docs: ['echo ran-docs'], release: ['echo ran-release'] }, [
      '  main:',
      '    jobs:',
      '      - build: {filters: {tags: {only: /^v.*/}}}',
      '      - docs: {requires: [build], filters: {branches: {only: [main, /docs-.*/]}}}',
      '      - release: {requires: [build], filters: {branches: {ignore: /.*/}, tags: {only: /^v\\d+(\\.\\d+)*$/}}}',
      '',
    ].join('\n'));
    const branch = run(dir, ['--branch', 'feature-x']);
    assert.equal(branch.code, 0, branch.out + branch.err);
    assert.match(branch.out, /ran-build/);
    assert.doesNotMatch(branch.out, /ran-docs|ran-release/);
    assert.match(branch.out, /Not in this pipeline \(filters\): docs \(branches filter excludes feature-x\), release \(branches filter excludes feature-x\)/);
    const docs = run(dir, ['--branch', 'docs-1']);
    assert.match(docs.out, /ran-docs/);
    const tag = run(dir, ['--tag', 'v1.2']);
    assert.equal(tag.code, 0, tag.out + tag.err);
    assert.match(tag.out, /Workflow main \(tag v1\.2\)/);
    assert.match(tag.out, /ran-build[\s\S]*ran-release/);
    assert.doesNotMatch(tag.out, /ran-docs/);
    assert.match(tag.out, /docs: not in this pipeline \(no tags filter/);
    const env = run(dir, ['--tag', 'v2']);
    assert.match(log(env, 'release'), /CIRCLE_TAG=v2/);
  });

  test('approvals: --approve none leaves the approval and its downstream not run; all runs them; no terminal and no flag is a usage error', () => {
    const dir = project({ build: ['echo ran-build'], deploy: ['echo ran-deploy'] }, '  main:\n    jobs:\n      - build\n      - hold: {type: approval, requires: [build]}\n      - deploy: {requires: [hold]}\n');
    const none = run(dir, ['--approve', 'none']);
    assert.equal(none.code, 0, none.out + none.err);
    assert.match(row(none, 'hold'), /^not run \| \d+ms \| not approved$/);
    assert.equal(row(none, 'deploy'), 'not run | - | hold ended not run');
    assert.doesNotMatch(none.out, /ran-deploy/);
    const all = run(dir, ['--approve', 'all']);
    assert.equal(all.code, 0, all.out + all.err);
    assert.match(row(all, 'hold'), /^success .*approved/);
    assert.match(all.out, /ran-deploy/);
    const ask = run(dir);
    assert.equal(ask.code, 2);
    assert.equal(ask.err, 'deckhand: workflow "main" has approval job hold and this is not a terminal to ask on; pass --approve all or --approve none\n');
    assert.doesNotMatch(ask.out, /ran-build/, 'nothing ran');
  });

  test('approvals on a terminal (a pseudo-terminal from script(1)): asked one at a time; y runs what follows, n does not', async () => {
    const dir = project({ a: ['echo ran-a'] }, '  main:\n    jobs:\n      - hold: {type: approval}\n      - a: {requires: [hold]}\n      - hold: {type: approval, name: second, requires: [hold]}\n      - a: {name: a2, requires: [second]}\n');
    const command = [process.execPath, ...runArgs(dir, [])].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: dir, env: env(dir) });
    let out = '';
    const answered = new Set<string>();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const [job, answer] of [['hold', 'y'], ['second', 'n']]) {
        if (!answered.has(job) && out.includes(`Approve job "${job}"? [y/N] `)) {
          answered.add(job);
          child.stdin.write(`${answer}\n`);
        }
      }
    });
    // script(1) is util-linux's (Debian: bsdutils, an essential package)
    const code = await new Promise<number | null>((resolve, reject) => child.on('exit', resolve).on('error', reject));
    const text = out.replace(/\r\n/g, '\n');
    assert.equal(code, 0, text);
    assert.match(text, /^\[a\]\s+ran-a$/m);
    assert.match(text, /^hold\s+success\s+\S+\s+approved$/m);
    assert.match(text, /^second\s+not run\s+\S+\s+not approved$/m);
    assert.match(text, /^a2\s+not run\s+-\s+second ended not run$/m);
  });

  test('parallelism follows the capacity: this machine\'s by resource class, else --max-parallel N', () => {
    const steps = ['echo start-marker; sleep 2; echo end-marker'];
    const dir = project({ a: steps, b: steps, c: steps }, '  main:\n    jobs: [a, b, c]\n');
    // small = 1 CPU and 2 GB: as many fit as the machine has beyond 2 CPUs and 4 GB, at least one
    const free = machineCapacity();
    const expected = Math.min(3, Math.max(1, Math.min(free.cpus, Math.floor(free.memoryMb / 2048))));
    const byClass = run(dir);
    assert.equal(byClass.code, 0, byClass.out + byClass.err);
    assert.equal(peakConcurrency(byClass.out), expected, byClass.out);
    const one = run(dir, ['--max-parallel', '1']);
    assert.equal(one.code, 0, one.out + one.err);
    assert.equal(peakConcurrency(one.out), 1);
    const two = run(dir, ['--max-parallel', '2']);
    assert.equal(two.code, 0, two.out + two.err);
    assert.equal(peakConcurrency(two.out), 2);
    assert.match(two.out, /up to 2 jobs at once \(--max-parallel\)/);
  });

  /** Runs a workflow of jobs a and b (in parallel) and c after them; `act` once a and b are in their step. */
  async function interruptOnceStarted(command: string, act: (child: ChildProcess) => void): Promise<{ code: number | null; out: string; dir: string }> {
    const steps = [command];
    const dir = project({ a: steps, b: steps, c: ['echo ran-c'] }, '  main:\n    jobs:\n      - a\n      - b\n      - c: {requires: [a, b]}\n');
    const child = spawn(process.execPath, runArgs(dir, ['--max-parallel', '2']), { cwd: dir, env: env(dir) });
    let out = '';
    let acted = false;
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // both jobs are in their step (the header shows the command, not a line of its own)
      if (!acted && (out.match(/\]\s+start-marker\n/g) ?? []).length >= 2) {
        acted = true;
        act(child);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, out, dir };
  }

  test('Ctrl-C cancels every running job, starts nothing more, removes containers, exits 130', async () => {
    const { code, out, dir } = await interruptOnceStarted('echo start-marker; sleep 60', (child) => child.kill('SIGINT'));
    assert.equal(code, 130, out);
    assert.match(out, /SIGINT: stopping every job and cleaning up/);
    const rows = out.split('\n').filter((l) => /^(a|b|c) /.test(l)).map((l) => l.replace(/\s{2,}/g, ' | '));
    assert.match(rows[0], /^a \| canceled/);
    assert.match(rows[1], /^b \| canceled/);
    assert.equal(rows[2], 'c | not run | - | interrupted');
    assert.doesNotMatch(out, /ran-c/);
    assert.deepEqual(leftovers(dir), []);
  });

  test('a second Ctrl-C removes every job\'s containers at once, even when steps ignore SIGTERM', async () => {
    const started = Date.now();
    const { code, out, dir } = await interruptOnceStarted("trap '' TERM; echo start-marker; sleep 60", (child) => {
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGINT'), 500);
    });
    assert.equal(code, 130, out);
    assert.match(out, /forcing: removing the containers of every job now/);
    assert.ok(Date.now() - started < 9000, 'did not wait for the 10 s kill grace period');
    assert.deepEqual(leftovers(dir), []);
  });

  test('usage and config errors: unknown workflow, several workflows without --workflow, bad --max-parallel', () => {
    const dir = project({ a: ['true'] }, '  one: {jobs: [a]}\n  two: {jobs: [a]}\n');
    const unknown = run(dir, ['--workflow', 'three']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.err, 'deckhand: .circleci/config.yml has no workflow "three"; workflows: one, two\n');
    const ambiguous = run(dir);
    assert.equal(ambiguous.code, 2);
    assert.equal(ambiguous.err, 'deckhand: .circleci/config.yml has 2 workflows; choose one with --workflow NAME (one, two)\n');
    const bad = run(dir, ['--workflow', 'one', '--max-parallel', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--max-parallel must be a whole number of at least 1, got 0/);
    writeFileSync(join(dir, '.circleci', 'config.yml'), 'version: 2.1\njobs:\n  a: {docker: [{image: x}], steps: [run: echo]}\nworkflows:\n  w: {jobs: [{a: {requires: [nope]}}]}\n');
    const config = run(dir);
    assert.equal(config.code, 2);
    assert.match(config.err, /config\.yml:5:\d+: .*requires "nope", which is not a job of this workflow/);
    assert.ok(!existsSync(join(dir, 'logs')), 'nothing ran');
  });

  test('an environment failure (an image that is not there, --pull never) exits 2, as execute does; its downstream is not run', () => {
    const dir = repository(`version: 2.1\njobs:\n  a: {docker: [{image: deckhand-test/not-there:latest}], steps: [run: echo]}\n  b: {docker: [{image: ${BUSYBOX}}], steps: [run: echo]}\nworkflows:\n  w: {jobs: [a, {b: {requires: [a]}}]}\n`);
    dirs.push(dir);
    const r = run(dir, ['--pull', 'never']);
    assert.equal(r.code, 2, r.out + r.err);
    assert.match(row(r, 'a'), /^failed \| \S+ \| environment failure \(engine or image; see the log\)/);
    assert.equal(row(r, 'b'), 'not run | - | a ended failed');
    assert.match(log(r, 'a'), /deckhand-test\/not-there/);
    assert.doesNotMatch(r.out + r.err, /\n\s+at /, 'no stack trace');
  });
});
