/** orb pack: an orb source folder → one packed orb, as `circleci orb pack` lays it out. */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, formatDiagnostic } from '../../agent/config/diagnostics.js';
import { packOrb } from '../../agent/config/orb-pack.js';
import { parseOrbRef } from '../../agent/config/orb-registry.js';
import { emptyRegistry, jobSpec, yaml } from '../support/config.js';
import { writeTree } from '../support/orb-source.js';

const tree = (): Record<string, string> => ({
  '@orb.yml': 'version: 2.1\ndescription: tools for tests\ndisplay: {home_url: "https://example.com"}\norbs:\n  helper: acme/helper@1\n',
  'extra.yml': 'description: replaced by a later root file\n',
  'README.md': '# not read\n',
  'commands/install.yml': 'description: install it\nparameters: {version: {type: string, default: "1.0"}}\nsteps:\n  - run:\n      name: install\n      environment: {VERSION: << parameters.version >>}\n      command: <<include(scripts/install.sh)>>\n',
  'commands/@shared.yml': 'greet: {steps: [{run: echo hi}]}\n',
  'commands/.hidden.yml': 'not: read\n',
  'commands/notes.txt': 'not read\n',
  'jobs/test.yaml': 'executor: default\nsteps: [install, greet]\n',
  'executors/default.yml': 'docker: [{image: cimg/base:stable}]\n',
  'examples/use.yml': 'description: an example\nusage:\n  version: 2.1\n  jobs: {x: {steps: ["<<include(scripts/install.sh)>>"]}}\n',
  'scripts/install.sh': '#!/bin/sh\ncat <<EOF > version\n$VERSION\nEOF\necho "<< not a parameter >>"\n',
});

test('pack: @orb.yml and root files at the top, one element per file, @-files merged, dot-files and other files left out', () => {
  const packed = packOrb(writeTree(tree()));
  assert.deepEqual(packed.warnings, []);
  const orb = parse(packed.text) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(orb), ['version', 'description', 'display', 'orbs', 'commands', 'executors', 'jobs', 'examples']);
  assert.equal(orb.description, 'replaced by a later root file');
  assert.deepEqual(Object.keys(orb.commands).sort(), ['greet', 'install']);
  assert.deepEqual(Object.keys(orb.jobs), ['test']);
  assert.deepEqual(orb.orbs, { helper: 'acme/helper@1' });
});

test('pack: a whole-value include becomes the file, its << escaped; examples are left as written', () => {
  const packed = packOrb(writeTree(tree()));
  const orb = parse(packed.text) as { commands: { install: { steps: { run: { command: string } }[] } }; examples: { use: { usage: { jobs: { x: { steps: string[] } } } } } };
  assert.equal(orb.commands.install.steps[0].run.command, '#!/bin/sh\ncat \\<<EOF > version\n$VERSION\nEOF\necho "\\<< not a parameter >>"\n');
  assert.deepEqual(orb.examples.use.usage.jobs.x.steps, ['<<include(scripts/install.sh)>>']);
});

test('a packed orb compiles: the included script reaches the step with its << intact', () => {
  const dir = writeTree(tree());
  const reg = emptyRegistry();
  const helper = writeTree({ '@orb.yml': 'version: 2.1\n' });
  reg.store(packOrb(helper).text, parseOrbRef('acme/helper@1.0.0')!, 'acme/helper@1.0.0');
  reg.store(packOrb(dir).text, parseOrbRef('acme/tools@2.0.0')!, 'acme/tools@2.0.0');
  const spec = jobSpec(yaml`
    version: 2.1
    orbs: {tools: acme/tools@2}
    workflows: {w: {jobs: [tools/test]}}
  `, 'tools/test', { registry: reg });
  const run = spec.steps[0];
  assert.ok(run.type === 'run');
  assert.equal(run.command, '#!/bin/sh\ncat <<EOF > version\n$VERSION\nEOF\necho "<< not a parameter >>"\n');
  assert.deepEqual(run.environment, { VERSION: '1.0' });
});

function packFails(files: Record<string, string>, re: RegExp, at?: { file: string; line: number }): void {
  const dir = writeTree(files);
  assert.throws(
    () => packOrb(dir),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      const d = err.diagnostics[0];
      assert.match(d.message, re);
      if (at) assert.equal(`${d.pos?.file}:${d.pos?.line}`, `${join(dir, at.file)}:${at.line}`, formatDiagnostic(d));
      return true;
    },
  );
}

test('pack refuses what circleci orb pack refuses, positioned in the source file', () => {
  packFails({ 'commands/x.yml': 'steps: []\n' }, /has no @orb\.yml/);
  packFails({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': 'steps:\n  - run: "echo <<include(a.sh)>>"\n', 'a.sh': 'x' }, /must be the whole value/, { file: 'commands/x.yml', line: 2 });
  packFails({ '@orb.yml': 'version: 2.1\n', 'jobs/x.yml': 'steps:\n  - run: "<<include(a.sh)>><<include(a.sh)>>"\n', 'a.sh': 'x' }, /two includes/, { file: 'jobs/x.yml', line: 2 });
  packFails({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': 'steps:\n  - run: <<include(scripts/missing.sh)>>\n' }, /cannot include scripts\/missing\.sh: there is no such file/);
  packFails({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': 'steps:\n  - run: <<include(../../etc/passwd)>>\n' }, /outside the orb's source folder|no such file/);
  packFails({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': '- not a map\n' }, /must hold a YAML map/);
  packFails({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': 'steps: [\n' }, /invalid YAML/);
});

test('pack: an include that escapes through a symbolic link is refused; a nested folder and a stray key are warned about', () => {
  const outside = writeTree({ 'secret.sh': 'echo secret\n' });
  const dir = writeTree({ '@orb.yml': 'version: 2.1\nparameters: {}\n', 'commands/x.yml': 'steps:\n  - run: <<include(link.sh)>>\n', 'commands/more/y.yml': 'steps: []\n' });
  symlinkSync(join(outside, 'secret.sh'), join(dir, 'link.sh'));
  assert.throws(() => packOrb(dir), /outside the orb's source folder/);
  writeFileSync(join(dir, 'commands/x.yml'), 'steps: [{run: echo}]\n');
  mkdirSync(join(dir, 'commands/.git'));
  const packed = packOrb(dir);
  assert.deepEqual(packed.warnings.map((w) => w.message.replace(dir, 'DIR')), [
    'DIR/commands/more is a folder; orb pack reads only the files directly in commands/, so it is left out',
    '"parameters" is not a key orb pack keeps; the packed orb leaves it out, as circleci orb pack does',
  ]);
});

test('what cannot be read is one line naming it, never an internal error', () => {
  const dir = writeTree({ '@orb.yml': 'version: 2.1\n' });
  symlinkSync(join(dir, 'nowhere.yml'), join(dir, 'commands-link'));
  mkdirSync(join(dir, 'commands'));
  symlinkSync(join(dir, 'nowhere.yml'), join(dir, 'commands', 'dangling.yml'));
  assert.throws(() => packOrb(dir), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, `cannot read ${join(dir, 'commands', 'dangling.yml')} (ENOENT) while packing the orb in ${dir}`);
    return true;
  });
  const folderRoot = writeTree({ 'commands/x.yml': 'steps: []\n' });
  mkdirSync(join(folderRoot, '@orb.yml'));
  assert.throws(() => packOrb(folderRoot), /has no @orb\.yml/);
});

test('pack: an included script that is not UTF-8 is refused at its first bad byte, never packed mangled', () => {
  const dir = writeTree({ '@orb.yml': 'version: 2.1\n', 'commands/x.yml': 'steps:\n  - run: <<include(scripts/latin1.sh)>>\n' });
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'scripts', 'latin1.sh'), Buffer.concat([Buffer.from('#!/bin/sh\necho caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
  assert.throws(() => packOrb(dir), (err: unknown) => err instanceof ConfigError && /^scripts\/latin1\.sh:2:9: not valid UTF-8 at byte offset 18 \(0xe9\)/.test(err.message));
});
