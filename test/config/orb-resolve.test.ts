/**
 * ensureOrbs: the orbs a config uses, and the orbs those import, fetched into the local registry
 * from a stand-in for CircleCI's orb registry on loopback, from orb source folders the test packs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { compileText, prepareConfig } from '../../agent/config/compile.js';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { OrbSource } from '../../agent/config/orb-fetch.js';
import { packOrb } from '../../agent/config/orb-pack.js';
import { ensureOrbs } from '../../agent/config/orb-resolve.js';
import { loadYaml } from '../../agent/config/source.js';
import { toJobSpec } from '../../agent/config/to-jobspec.js';
import { emptyRegistry, yaml } from '../support/config.js';
import { OrbRegistryStandIn } from '../support/orb-registry-server.js';
import { writeTree } from '../support/orb-source.js';

const standIn = new OrbRegistryStandIn();
let host = '';

// acme/node@5 imports acme/cache@1.2, which imports acme/util (no version: volatile)
before(async () => {
  standIn.publish(
    'acme/util@3.1.0',
    packOrb(writeTree({ '@orb.yml': 'version: 2.1\n', 'commands/say.yml': 'parameters: {msg: {type: string}}\nsteps:\n  - run: <<include(scripts/say.sh)>>\n', 'scripts/say.sh': 'echo "$MSG" # << not a parameter >>\n' })).text,
  );
  standIn.publish('acme/util@2.0.0', 'version: 2.1\ncommands: {say: {steps: [{run: echo old}]}}\n');
  standIn.publish('acme/cache@1.2.4', packOrb(writeTree({ '@orb.yml': 'version: 2.1\norbs:\n  util: acme/util\n', 'commands/restore.yml': 'steps:\n  - util/say: {msg: restoring}\n' })).text);
  const node = writeTree({
    '@orb.yml': 'version: 2.1\norbs:\n  cache: acme/cache@1.2\n',
    'executors/default.yml': 'parameters: {tag: {type: string, default: "20.1"}}\ndocker: [{image: "cimg/node:<< parameters.tag >>"}]\n',
    'jobs/test.yml': 'executor: default\nsteps: [checkout, cache/restore, {run: npm test}]\n',
  });
  standIn.publish('acme/node@5.0.0', packOrb(node).text);
  standIn.publish('acme/node@5.3.1', packOrb(node).text);
  host = await standIn.start();
});
after(() => standIn.stop());

const config = (orbs: string) => yaml`
  version: 2.1
  orbs:
${orbs}
  workflows:
    ci:
      jobs: [node/test]
`;

test('missing orbs are fetched transitively, stored under the exact version, and the next compile needs no network', async () => {
  const registry = emptyRegistry();
  const text = config('    node: acme/node@5');
  const prepared = prepareConfig(loadYaml(text, { file: 'config.yml' }), 'config.yml', {});
  standIn.requests.length = 0;
  const told: string[] = [];
  const result = await ensureOrbs(prepared, { registry, fetcher: new OrbSource({ host }), onFetched: (f) => told.push(`${f.reference} → ${f.stored}`) });
  assert.deepEqual(result.problems, new Map());
  assert.deepEqual(told, ['acme/node@5 → acme/node@5.3.1', 'acme/cache@1.2 → acme/cache@1.2.4', 'acme/util@volatile → acme/util@3.1.0']);
  assert.equal(standIn.requests.length, 3);
  assert.deepEqual(registry.list().map((o) => `${o.ref} for ${o.fetched?.reference} from ${o.fetched?.registry}`), [
    `acme/cache@1.2.4 for acme/cache@1.2 from ${host}`,
    `acme/node@5.3.1 for acme/node@5 from ${host}`,
    `acme/util@3.1.0 for acme/util@volatile from ${host}`,
  ]);
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(registry.root, 'acme', 'node', 'fetched.json'), 'utf8')) as object), ['5.3.1']);

  // everything is there now: a second pass asks nothing, and the compile uses what was stored
  await standIn.stop();
  const again = await ensureOrbs(prepared, { registry, fetcher: new OrbSource({ host }) });
  assert.deepEqual([again.fetched, again.problems], [[], new Map()]);
  host = await standIn.start();
  const compiled = compileText(text, 'config.yml', { registry });
  const job = compiled.jobs.get('node/test')!;
  const spec = toJobSpec(compiled, job);
  assert.equal(spec.executor.kind === 'docker' && spec.executor.containers[0].image, 'cimg/node:20.1');
  assert.deepEqual(spec.steps.map((s) => (s.type === 'run' ? s.command : s.type)), ['checkout', 'echo "$MSG" # << not a parameter >>\n', 'npm test']);
});

test('every orb that cannot be fetched is reported at once, with why and the commands that add it', async () => {
  const registry = emptyRegistry();
  const text = config('    node: acme/node@5\n    gone: acme/gone@1.0.0\n    ghost: acme/ghost@2');
  const prepared = prepareConfig(loadYaml(text, { file: 'config.yml' }), 'config.yml', {});
  const { problems } = await ensureOrbs(prepared, { registry, fetcher: new OrbSource({ host }) });
  const where = new URL(host).host;
  assert.deepEqual(problems, new Map([
    ['acme/gone@1.0.0', `the orb registry ${where} has no acme/gone@1.0.0 (check the orb's name and version)`],
    ['acme/ghost@2', `the orb registry ${where} has no acme/ghost@2 (check the orb's name and version)`],
  ]));
  assert.throws(
    () => compileText(text, 'config.yml', { registry, orbFetchProblems: problems, collectProblems: true }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.diagnostics.map((d) => `${d.pos?.line}:${d.pos?.col}: ${d.message.replace(registry.root, 'ROOT')}`), [
        `4:9: orb acme/gone@1.0.0 is not in the local orb registry (ROOT); the orb registry ${where} has no acme/gone@1.0.0 (check the orb's name and version); fetch it with: deckhand orb fetch acme/gone@1.0.0; or import its packed file or source folder with: deckhand orb import PATH --name acme/gone@1.0.0`,
        `5:10: orb acme/ghost@2 is not in the local orb registry (ROOT); the orb registry ${where} has no acme/ghost@2 (check the orb's name and version); fetch it with: deckhand orb fetch acme/ghost@2; or import its packed file or source folder with: deckhand orb import PATH --name acme/ghost@2.0.0`,
      ]);
      return true;
    },
  );
});

test('offline nothing is fetched: every missing orb, an imported one\'s too, is reported in one run', async () => {
  const registry = emptyRegistry();
  // acme/node is there, but what it imports is not
  registry.store(standInSource('acme/node@5.3.1'), { namespace: 'acme', name: 'node', version: '5.3.1' }, 'node');
  const text = config('    node: acme/node@5\n    other: acme/other@volatile');
  const prepared = prepareConfig(loadYaml(text, { file: 'config.yml' }), 'config.yml', {});
  standIn.requests.length = 0;
  const { problems } = await ensureOrbs(prepared, { registry, offlineReason: 'not fetched: --offline is set' });
  assert.equal(standIn.requests.length, 0);
  assert.deepEqual([...problems.keys()], ['acme/cache@1.2', 'acme/other@volatile']);
  assert.throws(
    () => compileText(text, 'config.yml', { registry, orbFetchProblems: problems, collectProblems: true }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.diagnostics.map((d) => `${d.pos?.file}:${d.pos?.line}:${d.pos?.col}: ${d.message.replace(/ \(.*?\);/, ';').replace(/; fetch it.*/, '')}`), [
        'config.yml:4:10: orb acme/other@volatile is not in the local orb registry; not fetched: --offline is set',
        'acme/node@5.3.1:3:10: orb acme/cache@1.2 is not in the local orb registry; not fetched: --offline is set',
      ]);
      return true;
    },
  );
});

test('an answer that is not a usable orb is not stored, and says why', async () => {
  standIn.publish('acme/bad@1.0.0', '- a list, not an orb\n');
  standIn.publish('acme/unpacked@1.0.0', 'version: 2.1\ncommands:\n  x:\n    steps:\n      - run: <<include(x.sh)>>\n');
  const registry = emptyRegistry();
  const prepared = prepareConfig(loadYaml(config('    bad: acme/bad@1\n    unpacked: acme/unpacked@1'), { file: 'config.yml' }), 'config.yml', {});
  const { problems, fetched } = await ensureOrbs(prepared, { registry, fetcher: new OrbSource({ host }) });
  assert.deepEqual(fetched, []);
  assert.deepEqual(registry.list(), []);
  const where = new URL(host).host;
  assert.deepEqual(problems, new Map([
    ['acme/bad@1', `what ${where} answered is not a usable orb: acme/bad@1.0.0:1:1: an orb must be a YAML map (with commands, jobs, executors…)`],
    ['acme/unpacked@1', `what ${where} answered is not a usable orb: acme/unpacked@1.0.0:5:14: <<include(x.sh)>> was never replaced: an include belongs to an orb's source folder and is filled in when the orb is packed; pack it with "deckhand orb pack DIR", or import the folder with "deckhand orb import DIR --name ns/name@version"`],
  ]));
});

function standInSource(ref: string): string {
  const orb = (standIn as unknown as { orbs: Map<string, { versions: Map<string, { source: string }> }> }).orbs;
  const [name, version] = ref.split('@');
  return orb.get(name)!.versions.get(version)!.source;
}
