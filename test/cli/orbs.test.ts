/**
 * Orbs as a user meets them, through the real `deckhand` binary: a config whose orbs are fetched
 * from an orb registry (a stand-in for CircleCI's on loopback, test/support/orb-registry-server.ts),
 * offline use, `orb pack`, `orb import` of a source folder, `orb fetch`, `orb list`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { packOrb } from '../../agent/config/orb-pack.js';
import { OrbRegistryStandIn } from '../support/orb-registry-server.js';
import { writeTree } from '../support/orb-source.js';
import { repoRoot } from '../support/repo-root.js';

const bin = join(repoRoot(), 'bin', 'deckhand.js');

/** The binary, run without blocking this process (the stand-in registry answers from here). */
function deckhand(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, DECKHAND_ORB_REGISTRY: undefined, DECKHAND_OFFLINE: undefined, CIRCLE_TOKEN: undefined, ...env };
    execFile(process.execPath, [bin, ...args], { cwd: tmpdir(), env: childEnv as NodeJS.ProcessEnv, encoding: 'utf8' }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

const home = () => mkdtempSync(join(tmpdir(), 'deckhand-orbs-home-'));

/** Source folders the tests write and pack themselves. */
const sources = {
  node: () =>
    writeTree({
      '@orb.yml': 'version: 2.1\ndescription: node tools\norbs:\n  util: acme/util@1\n',
      'executors/default.yml': 'docker: [{image: cimg/node:20.1}]\n',
      'commands/install.yml': 'steps:\n  - util/say: {msg: installing}\n  - run:\n      name: install\n      command: <<include(scripts/install.sh)>>\n',
      'jobs/test.yml': 'executor: default\nsteps: [checkout, install, {run: npm test}]\n',
      'scripts/install.sh': 'cat <<EOF > .npmrc\nfund=false\nEOF\nnpm ci\n',
    }),
  util: () => writeTree({ '@orb.yml': 'version: 2.1\n', 'commands/say.yml': 'parameters: {msg: {type: string}}\nsteps: [{run: echo << parameters.msg >>}]\n' }),
  secret: () => writeTree({ '@orb.yml': 'version: 2.1\n', 'commands/hush.yml': 'steps: [{run: echo hush}]\n' }),
};

const standIn = new OrbRegistryStandIn();
let host = '';

before(async () => {
  standIn.publish('acme/node@5.0.0', packOrb(sources.node()).text);
  standIn.publish('acme/node@5.4.2', packOrb(sources.node()).text);
  standIn.publish('acme/util@1.3.0', packOrb(sources.util()).text);
  standIn.publish('acme/secret@0.1.0', packOrb(sources.secret()).text, { token: 'tok-123' });
  host = await standIn.start();
});
after(() => standIn.stop());

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'deckhand-orbs-cfg-')), 'config.yml');
  writeFileSync(file, text);
  return file;
}

const uses = (orbs: string, job = 'node/test') => configFile(`version: 2.1\norbs:\n${orbs}\nworkflows:\n  ci:\n    jobs: [${job}]\n`);

test('validate fetches a config\'s orbs and theirs from --orb-registry; the next run works offline', async () => {
  const h = home();
  const cfg = uses('  node: acme/node@5');
  const first = await deckhand(['config', 'validate', '-c', cfg, '--orb-registry', host], { DECKHAND_HOME: h });
  assert.equal(first.code, 0, first.err);
  assert.equal(first.out, `${cfg}: valid\n`);
  assert.equal(first.err, `deckhand: fetched orb acme/node@5.4.2 (for acme/node@5) from ${host}\ndeckhand: fetched orb acme/util@1.3.0 (for acme/util@1) from ${host}\n`);

  const offline = await deckhand(['config', 'process', '-c', cfg, '--offline', '--job', 'node/test', '--jobspec'], { DECKHAND_HOME: h });
  assert.equal(offline.code, 0, offline.err);
  assert.equal(offline.err, '');
  const spec = JSON.parse(offline.out) as { steps: { type: string; command?: string }[] };
  assert.deepEqual(spec.steps.map((s) => s.command ?? s.type), ['checkout', 'echo installing', 'cat <<EOF > .npmrc\nfund=false\nEOF\nnpm ci\n', 'npm test']);

  const list = await deckhand(['orb', 'list'], { DECKHAND_HOME: h });
  assert.equal(list.out, `acme/node@5.4.2\tfetched for acme/node@5 from ${host}\nacme/util@1.3.0\tfetched for acme/util@1 from ${host}\n`);
});

test('execute fetches the orbs of the job it is given (here only as far as printing its assignment)', async () => {
  const h = home();
  const cfg = uses('  node: acme/node@5.0');
  const r = await deckhand(['execute', '-c', cfg, '--job', 'node/test', '--print-assignment', '--orb-registry', host], { DECKHAND_HOME: h });
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /^deckhand: fetched orb acme\/node@5\.0\.0 \(for acme\/node@5\.0\) from http:\/\/127\.0\.0\.1:\d+\ndeckhand: fetched orb acme\/util@1\.3\.0 \(for acme\/util@1\)/);
  const assignment = JSON.parse(r.out) as { spec: { steps: { type: string }[] } };
  assert.deepEqual(assignment.spec.steps.map((s) => s.type), ['checkout', 'run', 'run', 'run']);
  const offline = await deckhand(['execute', '-c', uses('  node: acme/node@6'), '--job', 'node/test', '--print-assignment', '--offline'], { DECKHAND_HOME: h });
  assert.equal(offline.code, 2);
  assert.match(offline.err, /orb acme\/node@6 is not in the local orb registry .*; not fetched: --offline is set; fetch it with: deckhand orb fetch acme\/node@6;/);
});

test('DECKHAND_ORB_REGISTRY names the registry; CIRCLE_TOKEN reaches a private orb', async () => {
  const h = home();
  const cfg = uses('  s: acme/secret@0.1', 'my-job');
  const text = `version: 2.1\norbs:\n  s: acme/secret@0.1\njobs:\n  my-job:\n    docker: [{image: x}]\n    steps: [s/hush]\nworkflows:\n  ci:\n    jobs: [my-job]\n`;
  writeFileSync(cfg, text);
  const without = await deckhand(['config', 'validate', '-c', cfg], { DECKHAND_HOME: h, DECKHAND_ORB_REGISTRY: host });
  assert.equal(without.code, 1);
  assert.match(without.err, new RegExp(`^${cfg}:3:6: orb acme/secret@0\\.1 is not in the local orb registry \\(.*\\); the orb registry ${new URL(host).host} has no acme/secret@0\\.1 \\(check the orb's name and version\\); fetch it with: deckhand orb fetch acme/secret@0\\.1; or import its packed file or source folder with: deckhand orb import PATH --name acme/secret@0\\.1\\.0\n$`));
  const withToken = await deckhand(['config', 'validate', '-c', cfg], { DECKHAND_HOME: h, DECKHAND_ORB_REGISTRY: host, CIRCLE_TOKEN: 'tok-123' });
  assert.equal(withToken.code, 0, withToken.err);
  assert.equal(standIn.requests.at(-1)?.headers['circle-token'], 'tok-123');
});

test('offline, every missing orb is listed at once; each suggested command works', async () => {
  const h = home();
  const cfg = uses('  node: acme/node@5\n  util: acme/util\n  more: acme/util@1.3', 'node/test');
  const asked = standIn.requests.length;
  // the registry is named, yet never asked
  const missing = await deckhand(['config', 'validate', '-c', cfg], { DECKHAND_HOME: h, DECKHAND_OFFLINE: '1', DECKHAND_ORB_REGISTRY: host });
  assert.equal(missing.code, 1);
  assert.equal(standIn.requests.length, asked);
  const lines = missing.err.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => l.replace(/ \(\/tmp\/[^)]*\)/, '').replace(/; fetch it with.*/, '')),
    [
      `${cfg}:3:9: orb acme/node@5 is not in the local orb registry; not fetched: DECKHAND_OFFLINE is set`,
      `${cfg}:4:9: orb acme/util@volatile is not in the local orb registry; not fetched: DECKHAND_OFFLINE is set`,
      `${cfg}:5:9: orb acme/util@1.3 is not in the local orb registry; not fetched: DECKHAND_OFFLINE is set`,
    ],
  );
  // the import each line suggests, with PATH a source folder (the orb's own sources)
  const sourceOf: Record<string, string> = { 'acme/node': sources.node(), 'acme/util': sources.util() };
  for (const line of lines) {
    const m = / deckhand orb import PATH --name (\S+)$/.exec(line);
    assert.ok(m, line);
    const r = await deckhand(['orb', 'import', sourceOf[m[1].split('@')[0]], '--name', m[1]], { DECKHAND_HOME: h });
    assert.equal(r.code, 0, r.err);
  }
  // acme/node imports acme/util@1, which the imports above answer too
  const ok = await deckhand(['config', 'validate', '-c', cfg, '--offline', '--orb-registry', host], { DECKHAND_HOME: h });
  assert.equal(ok.code, 0, ok.err);
  assert.equal(standIn.requests.length, asked);

  // and the fetch each line suggests
  const h2 = home();
  for (const ref of ['acme/node@5', 'acme/util@volatile', 'acme/util@1.3']) {
    const r = await deckhand(['orb', 'fetch', ref, '--orb-registry', host], { DECKHAND_HOME: h2 });
    assert.equal(r.code, 0, r.err);
  }
  assert.equal((await deckhand(['config', 'validate', '-c', cfg, '--offline'], { DECKHAND_HOME: h2 })).code, 0);
});

test('with no registry to reach, the missing orbs are listed at once, naming the host', async () => {
  const h = home();
  const cfg = uses('  node: acme/node@5\n  util: acme/util@1');
  const r = await deckhand(['config', 'validate', '-c', cfg, '--orb-registry', 'http://127.0.0.1:9'], { DECKHAND_HOME: h });
  assert.equal(r.code, 1);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  for (const line of lines) assert.match(line, /is not in the local orb registry .*; cannot reach the orb registry 127\.0\.0\.1:9 for acme\/\w+@\d: connection refused; .*; fetch it with: deckhand orb fetch/);
});

test('orb pack prints the packed orb; orb import DIR packs and imports; a folder is never an internal error', async () => {
  const dir = sources.node();
  const pack = await deckhand(['orb', 'pack', dir]);
  assert.equal(pack.code, 0, pack.err);
  const orb = parse(pack.out) as { commands: { install: { steps: { run?: { command: string } }[] } } };
  assert.equal(orb.commands.install.steps[1].run?.command, 'cat \\<<EOF > .npmrc\nfund=false\nEOF\nnpm ci\n');

  const h = home();
  const imp = await deckhand(['orb', 'import', dir, '--name', 'acme/node@5.0.0'], { DECKHAND_HOME: h });
  assert.equal(imp.code, 0, imp.err);
  assert.match(imp.out, /^imported acme\/node@5\.0\.0 → .*acme\/node\/5\.0\.0\.yml\n$/);

  const empty = mkdtempSync(join(tmpdir(), 'deckhand-empty-'));
  const noRoot = await deckhand(['orb', 'import', empty, '--name', 'acme/x@1.0.0'], { DECKHAND_HOME: h });
  assert.equal(noRoot.code, 2);
  assert.equal(noRoot.err, `deckhand: ${empty} is a folder without @orb.yml: give the orb's source folder (where @orb.yml, commands/, jobs/… are; often src/) or its packed file\n`);
  const broken = writeTree({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': 'steps: [\n' });
  const bad = await deckhand(['orb', 'import', broken, '--name', 'acme/x@1.0.0'], { DECKHAND_HOME: h });
  assert.equal(bad.code, 1);
  assert.match(bad.err, new RegExp(`^${join(broken, 'commands', 'x.yml')}:\\d+:\\d+: invalid YAML`));
  const partial = await deckhand(['orb', 'import', dir, '--name', 'acme/node@5'], { DECKHAND_HOME: h });
  assert.equal(partial.code, 2);
  assert.match(partial.err, /an orb is imported under an exact version \(like acme\/node@5\.0\.0\), which also answers @5/);
  for (const r of [noRoot, bad, partial, await deckhand(['orb', 'pack', empty])]) assert.doesNotMatch(r.err, /internal error|\n\s+at /);
});

test('validate reports every problem in one run, warnings included; process --jobspec gives an approval job\'s JobSpec', async () => {
  const cfg = configFile(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps: [{run: {command: make, description: builds}}, instal]
  test:
    docker: [{image: x}]
    steps: [chekout]
workflows:
  main:
    description: the only one
    jobs:
      - build
      - test
      - hold: {type: approval, requires: [build]}
      - build: {name: again, requires: [nothing]}
`);
  const r = await deckhand(['config', 'validate', '-c', cfg], { DECKHAND_HOME: home() });
  assert.equal(r.code, 1);
  assert.deepEqual(r.err.trimEnd().split('\n').map((l) => l.replace(cfg, 'C').replace(/; the step's keys are .*/, '')), [
    'C:5:35: warning: "description" in step "run" is ignored (CircleCI ignores it too)',
    'C:5:58: command "instal" is not defined in the config',
    'C:8:13: command "chekout" is not defined in the config (did you mean "checkout"?)',
    'C:11:5: warning: "description" in workflow "main" is ignored (CircleCI ignores it too)',
    'C:16:9: job "again" in workflow "main" requires "nothing", which is not a job of this workflow',
  ]);

  const good = configFile(`version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [checkout]}
workflows:
  main:
    description: the only one
    jobs: [build, {hold: {type: approval, requires: [build]}}]
`);
  const valid = await deckhand(['config', 'validate', '-c', good], { DECKHAND_HOME: home() });
  assert.equal(valid.code, 0);
  assert.equal(valid.out, `${good}: valid (1 warning)\n`);
  const hold = await deckhand(['config', 'process', '-c', good, '--job', 'hold', '--jobspec'], { DECKHAND_HOME: home() });
  assert.equal(hold.code, 0, hold.err);
  const spec = JSON.parse(hold.out) as { job: unknown; executor: unknown; workflow: unknown };
  assert.deepEqual([spec.job, spec.executor, spec.workflow], [{ name: 'hold', definition: 'hold', type: 'approval' }, { kind: 'none' }, { name: 'main', requires: { build: ['success'] } }]);
  assert.match(hold.err, /warning: "description" in workflow "main" is ignored/);
});
