/** The real `deckhand` binary, as a user runs it: exit codes, output shapes, no stack traces. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseJobSpec } from '../../agent/jobspec/validate.js';
import { repoRoot } from '../support/repo-root.js';

const bin = join(repoRoot(), 'bin', 'deckhand.js');
const home = mkdtempSync(join(tmpdir(), 'deckhand-cli-home-'));

function deckhand(args: string[], cwd = tmpdir()) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: home } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-cli-'));
  const file = join(dir, 'config.yml');
  writeFileSync(file, text);
  return file;
}

const good = configFile(`version: 2.1
commands:
  hello:
    parameters: {who: {type: string, default: you}}
    steps: [{run: echo hello << parameters.who >>}]
jobs:
  build:
    docker: [{image: busybox}]
    steps: [checkout, hello]
workflows:
  main:
    jobs: [build]
`);

test('--version and --help exit 0', () => {
  const v = deckhand(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.out, /^\d+\.\d+\.\d+\n$/);
  const h = deckhand(['config', 'process', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /--pipeline-parameters/);
});

test('usage errors exit 2 with one line', () => {
  const r = deckhand(['config', 'nonsense']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown command 'nonsense'/);
  const j = deckhand(['config', 'process', '-c', good, '--jobspec']);
  assert.equal(j.code, 2);
  assert.equal(j.err, 'deckhand: --jobspec needs --job NAME (the JobSpec describes one job)\n');
  assert.equal(deckhand(['config', 'process', '-c', '/nonexistent/config.yml']).code, 2);
});

test('validate: exit 0 when valid; FILE:LINE:COL lines and exit 1 when not', () => {
  const ok = deckhand(['config', 'validate', '-c', good]);
  assert.equal(ok.code, 0, ok.err);
  const bad = configFile('version: 2.1\njobs:\n  build:\n    docker: [{image: busybox}]\n    steps: [helo]\nworkflows:\n  w:\n    jobs: [build]\n');
  const r = deckhand(['config', 'validate', '-c', bad]);
  assert.equal(r.code, 1);
  assert.equal(r.err.trim().split('\n').length, 1);
  assert.match(r.err, new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:13: command "helo" is not defined`));
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
});

test('process prints the 2.0 form; --jobspec prints a schema-valid JobSpec', () => {
  const p = deckhand(['config', 'process', '-c', good]);
  assert.equal(p.code, 0, p.err);
  assert.match(p.out, /^version: 2$/m);
  assert.match(p.out, /command: echo hello you/);
  assert.doesNotMatch(p.out, /commands:/);
  const j = deckhand(['config', 'process', '-c', good, '--job', 'build', '--jobspec', '--branch', 'feature/x', '--revision', 'abc123']);
  assert.equal(j.code, 0, j.err);
  const spec = parseJobSpec(JSON.parse(j.out));
  assert.equal(spec.pipeline.git.branch, 'feature/x');
  assert.equal(spec.pipeline.git.revision, 'abc123');
  assert.deepEqual(spec.workflow, { name: 'main', requires: {} });
});

test('--pipeline-parameters takes inline JSON or a file, and is checked', () => {
  const cfg = configFile('version: 2.1\nparameters:\n  n: {type: integer, default: 1}\njobs:\n  build:\n    docker: [{image: x}]\n    parallelism: << pipeline.parameters.n >>\n    steps: [checkout]\n');
  const inline = deckhand(['config', 'process', '-c', cfg, '--job', 'build', '--jobspec', '--pipeline-parameters', '{"n": 3}']);
  assert.equal(inline.code, 0, inline.err);
  assert.equal(JSON.parse(inline.out).parallelism, 3);
  const file = configFile('n: 4\n');
  assert.equal(JSON.parse(deckhand(['config', 'process', '-c', cfg, '--job', 'build', '--jobspec', '--pipeline-parameters', file]).out).parallelism, 4);
  const bad = deckhand(['config', 'process', '-c', cfg, '--pipeline-parameters', '{"n": "many"}']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /argument "n" of the pipeline \(parameters:\) must be an integer/);
});

test('orb import and list use DECKHAND_HOME; bad names exit 2', () => {
  const orb = configFile('version: 2.1\ncommands:\n  x: {steps: [{run: "true"}]}\n');
  const imp = deckhand(['orb', 'import', orb, '--name', 'acme/thing@1.2.3']);
  assert.equal(imp.code, 0, imp.err);
  assert.match(deckhand(['orb', 'list']).out, /^acme\/thing@1\.2\.3$/m);
  assert.equal(deckhand(['orb', 'import', orb, '--name', 'thing']).code, 2);
});

test('--version and config validate load no Docker, gRPC or SSH code', () => {
  // a preloaded hook lists every CommonJS module loaded (ESM imports of CJS packages land there too)
  const hook = join(mkdtempSync(join(tmpdir(), 'deckhand-hook-')), 'hook.cjs');
  writeFileSync(hook, "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));\n");
  // the compiled files, unbundled: each package is a module of its own there
  const main = join(repoRoot(), 'dist', 'agent', 'cli', 'main.js');
  const entry = `import(${JSON.stringify(main)}).then((m) => m.main(process.argv))`;
  for (const args of [['--version'], ['config', 'validate', '-c', good]]) {
    const r = spawnSync(process.execPath, ['--require', hook, '-e', entry, 'deckhand', ...args], { encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: home } });
    assert.equal(r.status, 0, r.stderr);
    const loaded = JSON.parse(/LOADED (.*)/.exec(r.stderr)![1]) as string[];
    assert.ok(loaded.some((m) => m.includes('node_modules/commander/')), 'the hook sees CommonJS packages');
    assert.deepEqual(loaded.filter((m) => /node_modules\/(dockerode|docker-modem|ssh2|@grpc)\//.test(m)), [], args.join(' '));
  }
});

test('the bundle keeps Docker, gRPC and SSH code out of what every command runs', () => {
  // bin/deckhand.js runs one bundled file, in which a package's code runs only when first
  // required. Docker's client needs Node's http (dockerode is inside the bundle); gRPC, SSH and
  // the AWS SDK stay packages of their own (scripts/bundle.mjs), so they show as required modules.
  const hook = join(mkdtempSync(join(tmpdir(), 'deckhand-hook-')), 'hook.cjs');
  writeFileSync(hook, [
    "process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify({",
    "  builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),",
    '  packages: Object.keys(require.cache),',
    '}) + "\\n"));',
  ].join('\n'));
  const loaded = (args: string[]): { builtins: string[]; packages: string[] } => {
    // an engine that is not there: execute gets as far as its Docker client, then stops (exit 2)
    const env = { ...process.env, DECKHAND_HOME: home, DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
    const r = spawnSync(process.execPath, ['--require', hook, bin, ...args], { cwd: dirname(good), encoding: 'utf8', env });
    return JSON.parse(/LOADED (.*)/.exec(r.stderr)![1]) as { builtins: string[]; packages: string[] };
  };
  const network = (l: { builtins: string[]; packages: string[] }): string[] => [
    ...l.builtins.filter((b) => ['http', 'https', 'http2', 'tls'].includes(b)),
    ...l.packages.filter((m) => /node_modules\/(ssh2|@grpc|@aws-sdk)\//.test(m)),
  ];
  assert.deepEqual(network(loaded(['--version'])), []);
  assert.deepEqual(network(loaded(['config', 'validate', '-c', good])), []);
  // and the check can fail: a command that talks to Docker loads http
  assert.ok(network(loaded(['execute', '-c', good])).includes('http'));
});

test('a 10 MB config is refused with a positioned line, quickly', () => {
  const big = configFile(`version: 2.1\n# ${'x'.repeat(10 * 1024 * 1024)}\n`);
  const started = Date.now();
  const r = deckhand(['config', 'validate', '-c', big]);
  assert.equal(r.code, 1);
  assert.match(r.err, /:1:1: config is 10\.0 MB; the limit is 4 MB/);
  assert.ok(Date.now() - started < 5000);
});
