/** The V8 code cache bin/deckhand.js keeps for the bundle: written once per subcommand, never in the way. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { codeCacheFile, MAX_CACHE_FILES } from '../../agent/cli/code-cache.js';
import { repoRoot } from '../support/repo-root.js';

const bin = join(repoRoot(), 'bin', 'deckhand.js');
const bundle = join(repoRoot(), 'dist', 'bundle', 'deckhand.cjs');
const scratch = (): string => mkdtempSync(join(tmpdir(), 'deckhand-code-cache-'));
const config = join(scratch(), 'config.yml');
writeFileSync(config, 'version: 2.1\njobs:\n  build:\n    docker: [{image: busybox}]\n    steps: [checkout]\n');
const broken = join(scratch(), 'config.yml');
writeFileSync(broken, 'version: 2.1\njobs:\n  build:\n    docker: [{image: busybox}]\n    stepz: [checkout]\n');

function deckhand(args: string[], env: Record<string, string>): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: scratch(), ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the bundle is what bin/deckhand.js runs (the cache is for it)', () => {
  assert.ok(statSync(bundle).mtimeMs >= statSync(join(repoRoot(), 'dist', 'agent', 'cli', 'main.js')).mtimeMs, 'make build bundled after compiling');
});

test('the first successful run of a subcommand writes its cache; later runs use it as it is', () => {
  const dir = scratch();
  const first = deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: dir });
  assert.equal(first.code, 0, first.err);
  const files = readdirSync(dir);
  assert.equal(files.length, 1);
  assert.match(files[0], /^deckhand\.cjs-.*-config\.v8$/);
  const file = join(dir, files[0]);
  const data = readFileSync(file);
  assert.ok(data.length > 10_000, `a cache of ${data.length} bytes`);
  // V8 took the data: a rejected cache is written anew at the end of a successful run
  const before = statSync(file).mtimeMs;
  const second = deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: dir });
  assert.equal(second.code, 0, second.err);
  assert.equal(second.out, first.out);
  assert.equal(statSync(file).mtimeMs, before);
  assert.deepEqual(readFileSync(file), data);
  // another subcommand keeps a cache of its own
  assert.equal(deckhand(['orb', 'list'], { DECKHAND_CODE_CACHE: dir }).code, 0);
  assert.deepEqual(readdirSync(dir).sort(), [files[0], files[0].replace(/-config\.v8$/, '-orb.v8')].sort());
});

test('a damaged cache is refused by V8, the command runs as usual, and the cache is written anew', () => {
  const dir = scratch();
  const file = codeCacheFile(bundle, ['node', bin, 'config'], { DECKHAND_CODE_CACHE: dir })!;
  writeFileSync(file, Buffer.alloc(4096, 7));
  const r = deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: dir });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /valid/);
  assert.notDeepEqual(readFileSync(file), Buffer.alloc(4096, 7));
});

test('failed runs write no cache, help and version one of their own; off writes none; an unwritable place is no error', () => {
  const dir = scratch();
  assert.equal(deckhand(['config', 'validate', '-c', broken], { DECKHAND_CODE_CACHE: dir }).code, 1);
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(deckhand(['config', 'validate', '--help'], { DECKHAND_CODE_CACHE: dir }).code, 0);
  assert.equal(deckhand(['--version'], { DECKHAND_CODE_CACHE: dir }).code, 0);
  assert.deepEqual(readdirSync(dir).map((f) => f.replace(/^.*-/, '')), ['info.v8']);

  const xdg = scratch();
  assert.equal(deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: 'off', XDG_CACHE_HOME: xdg }).code, 0);
  assert.deepEqual(readdirSync(xdg), []);
  // without a setting, the cache goes to $XDG_CACHE_HOME/deckhand
  assert.equal(deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: '', XDG_CACHE_HOME: xdg }).code, 0);
  assert.equal(readdirSync(join(xdg, 'deckhand')).length, 1);

  // a path under a regular file cannot be a directory
  const blocker = join(scratch(), 'a-file');
  writeFileSync(blocker, '');
  const r = deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: join(blocker, 'cache') });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
});

test("writing a cache removes earlier builds' caches of the same bundle, and keeps the folder bounded", () => {
  const dir = scratch();
  const mine = codeCacheFile(bundle, ['node', bin, 'config'], { DECKHAND_CODE_CACHE: dir })!;
  const place = basename(mine).replace(/^(deckhand\.cjs-[0-9a-f]{8}-).*$/, '$1');
  // an earlier build of this bundle, another checkout's bundle, and many old files of others
  const stale = join(dir, `${place}1-2-3-v20.0.0-x64-config.v8`);
  const elsewhere = join(dir, 'deckhand.cjs-0badc0de-1-2-3-v20.0.0-x64-config.v8');
  writeFileSync(stale, 'old');
  writeFileSync(elsewhere, 'other');
  const old = Array.from({ length: MAX_CACHE_FILES + 5 }, (_, i) => join(dir, `deckhand.cjs-${String(i).padStart(8, '0')}-1-2-3-v20.0.0-x64-run.v8`));
  for (const [i, file] of old.entries()) {
    writeFileSync(file, 'x');
    utimesSync(file, new Date(), new Date(Date.now() - (i + 10) * 60_000));
  }
  assert.equal(deckhand(['config', 'validate', '-c', config], { DECKHAND_CODE_CACHE: dir }).code, 0);
  const left = new Set(readdirSync(dir));
  assert.ok(left.has(basename(mine)));
  assert.ok(!left.has(basename(stale)), 'the earlier build of this bundle');
  assert.ok(left.has(basename(elsewhere)), "another checkout's cache, written last but for this run");
  assert.equal(left.size, MAX_CACHE_FILES);
  // the oldest went first
  assert.ok(!left.has(basename(old.at(-1)!)));
  assert.ok(left.has(basename(old[0])));
});

test('a rebuilt bundle gets a cache of its own, even at the same length', () => {
  const file = join(scratch(), 'deckhand.cjs');
  writeFileSync(file, 'module.exports = 1;');
  const env = { DECKHAND_CODE_CACHE: '/cache' };
  const before = codeCacheFile(file, ['node', 'deckhand', 'execute'], env);
  writeFileSync(file, 'module.exports = 2;');
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const after = codeCacheFile(file, ['node', 'deckhand', 'execute'], env);
  assert.ok(before && after && before !== after, `${before} vs ${after}`);
  assert.match(after, /^\/cache\/deckhand\.cjs-.*-execute\.v8$/);
  assert.equal(codeCacheFile(file, ['node', 'deckhand', 'execute'], { DECKHAND_CODE_CACHE: 'off' }), undefined);
  assert.match(codeCacheFile(file, ['node', 'deckhand', '--job=x'], env)!, /-other\.v8$/);
  assert.match(codeCacheFile(file, ['node', 'deckhand', 'execute', '--help'], env)!, /-info\.v8$/);
});
