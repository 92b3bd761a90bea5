/**
 * save_cache and restore_cache end to end: the real `deckhand execute`, a real Docker engine,
 * the filesystem store under the project's DECKHAND_HOME, and an S3 store on moto. Each test
 * saves in one job (one container) and restores in another.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backdateFsBlob, daysAgo } from '../store/backdate.js';
import { createMotoBucket, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';
import { DEBIAN, deckhandBin, execute, project } from '../support/execute.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function repo(config: string, files: Record<string, string> = {}): string {
  const dir = project(config, files);
  made.push(dir);
  return dir;
}

/** Jobs `save` and `restore` of one config; `restore` runs `check` after restoring. */
function config(opts: { saveKey: string; restoreKeys: string[]; paths: string[]; make: string; check: string }): string {
  const steps = (lines: string[]) => lines.map((l) => `      ${l}`).join('\n');
  return `version: 2.1
jobs:
  save:
    docker:
      - image: ${DEBIAN}
    steps:
${steps(['- checkout', `- run: |\n${opts.make.split('\n').map((l) => `          ${l}`).join('\n')}`, '- save_cache:', `    key: ${JSON.stringify(opts.saveKey)}`, `    paths: ${JSON.stringify(opts.paths)}`])}
  restore:
    docker:
      - image: ${DEBIAN}
    steps:
${steps(['- checkout', '- restore_cache:', `    keys: ${JSON.stringify(opts.restoreKeys)}`, `- run: |\n${opts.check.split('\n').map((l) => `          ${l}`).join('\n')}`])}
`;
}

const MAKE_TREE = `mkdir -p deps/sub deps/empty ~/.cache/tool/empty
printf 'secret\\n' > deps/private.txt && chmod 640 deps/private.txt
printf '#!/bin/sh\\necho run\\n' > deps/sub/tool.sh && chmod 755 deps/sub/tool.sh
ln -s sub/tool.sh deps/tool-link
ln -s /etc/hostname deps/abs-link
printf 'owned\\n' > deps/owned.txt && chown 1234:2345 deps/owned.txt
printf "$VARIANT\\n" > deps/variant.txt
printf 'home\\n' > ~/.cache/tool/data`;

const CHECK_TREE = `cd ~/project
stat -c '%a %F %u:%g %n' deps deps/private.txt deps/sub/tool.sh deps/owned.txt deps/empty ~/.cache/tool/empty ~/.cache/tool/data
readlink deps/tool-link deps/abs-link
cat deps/variant.txt ~/.cache/tool/data
deps/tool-link`;

/** The blob files of every cache under the project's filesystem store. */
function cacheBlobs(dir: string): string[] {
  const root = join(dir, '.home', 'store', 'caches');
  const out: string[] = [];
  for (const p of readdirSync(root)) for (const b of readdirSync(join(root, p))) out.push(join(root, p, b, 'data'));
  return out;
}

describe('save_cache / restore_cache', { concurrency: false }, () => {
  test('a cache saved in one job restores in the next: modes, owners, symlinks, empty folders and ~ paths', () => {
    const dir = repo(config({ saveKey: 'v1-deps-{{ .Branch }}', restoreKeys: ['v1-deps-{{ .Branch }}'], paths: ['deps', '~/.cache/tool'], make: MAKE_TREE, check: CHECK_TREE }));
    const saved = execute(dir, ['--job', 'save', '-e', 'VARIANT=one']);
    assert.equal(saved.code, 0, saved.out + saved.err);
    assert.match(saved.out, /Stored Cache to v1-deps-main\n {2}\* \/root\/project\/deps\n {2}\* \/root\/\.cache\/tool\nCache size: [\d.]+ (B|KiB) \([\d.]+ KiB uncompressed\) in [\d.]+s/);
    const restored = execute(dir, ['--job', 'restore']);
    assert.equal(restored.code, 0, restored.out + restored.err);
    assert.match(restored.out, /Found a cache from build \d+ at v1-deps-main\nSize: [\d.]+ (B|KiB)\nCached paths:\n {2}\* \/root\/project\/deps\n {2}\* \/root\/\.cache\/tool\n\nDownloading cache archive\.\.\.\nValidating cache\.\.\.\n\nUnarchiving cache\.\.\./);
    for (const line of [
      '755 directory 0:0 deps',
      '640 regular file 0:0 deps/private.txt',
      '755 regular file 0:0 deps/sub/tool.sh',
      '644 regular file 1234:2345 deps/owned.txt',
      '755 directory 0:0 deps/empty',
      '755 directory 0:0 /root/.cache/tool/empty',
      '644 regular file 0:0 /root/.cache/tool/data',
      'sub/tool.sh\n/etc/hostname',
      'one\nhome\nrun',
    ]) {
      assert.ok(restored.out.includes(line), `missing "${line}" in:\n${restored.out}`);
    }
  });

  test('a larger tree (3,000 files, 13 MB) comes back byte for byte', () => {
    const digest = "cd ~/project && echo tree-$(find big -type f | wc -l)-$(find big -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)";
    const make = `mkdir -p big && cd big && for d in $(seq 1 30); do mkdir -p d$d; for f in $(seq 1 100); do head -c $((d * 160 + f * 40)) /dev/urandom > d$d/f$f; done; done && ${digest}`;
    const dir = repo(config({ saveKey: 'v1-big', restoreKeys: ['v1-big'], paths: ['big'], make, check: digest }));
    const saved = execute(dir, ['--job', 'save']);
    assert.equal(saved.code, 0, saved.out);
    const want = /tree-3000-[0-9a-f]{16}/.exec(saved.out)?.[0];
    assert.ok(want, saved.out);
    const restored = execute(dir, ['--job', 'restore']);
    assert.equal(restored.code, 0, restored.out);
    assert.doesNotMatch(restored.out, /Warning/);
    assert.ok(restored.out.includes(`\n${want}\n`), `expected ${want} in:\n${restored.out}`);
  });

  test('caches are immutable: a second save of a key is skipped, and the first content stays', () => {
    const dir = repo(config({ saveKey: 'v1-fixed', restoreKeys: ['v1-fixed'], paths: ['deps'], make: MAKE_TREE, check: 'cat ~/project/deps/variant.txt' }));
    assert.equal(execute(dir, ['--job', 'save', '-e', 'VARIANT=first']).code, 0);
    const second = execute(dir, ['--job', 'save', '-e', 'VARIANT=second']);
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /Skipping cache generation, cache already exists for key: v1-fixed\nFound one created at \d{4}-/);
    assert.doesNotMatch(second.out, /Stored Cache/);
    const restored = execute(dir, ['--job', 'restore']);
    assert.match(restored.out, /\nfirst\n/);
  });

  test('each key is a prefix, the newest match wins, keys are tried in order', () => {
    const dir = repo(
      config({ saveKey: 'v1-{{ .Environment.VARIANT }}', restoreKeys: ['v2-', 'v1-{{ .Environment.WANT }}', 'v1-'], paths: ['deps'], make: MAKE_TREE, check: 'cat ~/project/deps/variant.txt' }),
    );
    for (const v of ['aaa', 'bbb', 'ccc']) assert.equal(execute(dir, ['--job', 'save', '-e', `VARIANT=${v}`]).code, 0);
    // `v1-{{ .Environment.WANT }}` with WANT unset renders `v1-<no value>` (Go templates): no match
    const newest = execute(dir, ['--job', 'restore']);
    assert.match(newest.out, /No cache is found for key: v2-\nNo cache is found for key: v1-<no value>\nFound a cache from build \d+ at v1-ccc\n/);
    assert.match(newest.out, /\nccc\n/);
    const exact = execute(dir, ['--job', 'restore', '-e', 'WANT=aa']);
    assert.match(exact.out, /Found a cache from build \d+ at v1-aaa\n/);
    assert.match(exact.out, /\naaa\n/);
  });

  test('a corrupt or truncated archive is a miss with a warning, and the job goes on', () => {
    const dir = repo(config({ saveKey: 'v1-c', restoreKeys: ['v1-c'], paths: ['deps'], make: MAKE_TREE, check: 'test ! -e ~/project/deps && echo no-deps' }));
    assert.equal(execute(dir, ['--job', 'save', '-e', 'VARIANT=x']).code, 0);
    const [blob] = cacheBlobs(dir);
    const good = readFileSync(blob);
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    writeFileSync(blob, flipped);
    const corrupt = execute(dir, ['--job', 'restore']);
    assert.equal(corrupt.code, 0, corrupt.out);
    assert.match(corrupt.out, /Warning: skipping the cache at v1-c: its SHA-256 is [0-9a-f]{64}, [0-9a-f]{64} was stored \(corrupt\); treating it as a cache miss/);
    assert.match(corrupt.out, /\nno-deps\n/);
    writeFileSync(blob, good);
    truncateSync(blob, Math.floor(good.length / 2));
    const truncated = execute(dir, ['--job', 'restore']);
    assert.equal(truncated.code, 0, truncated.out);
    assert.match(truncated.out, /Warning: skipping the cache at v1-c: it is \d+ bytes long, \d+ were stored \(truncated or damaged\); treating it as a cache miss/);
    assert.match(truncated.out, /\nno-deps\n/);
    assert.ok(statSync(blob).size < good.length);
  });

  test('a cache saved longer ago than the retention (15 days) is a miss; DECKHAND_CACHE_RETENTION_DAYS changes it; a new save replaces it', () => {
    const dir = repo(config({ saveKey: 'v1-r', restoreKeys: ['v1-'], paths: ['deps'], make: MAKE_TREE, check: 'cat ~/project/deps/variant.txt 2>/dev/null || echo no-deps' }));
    assert.equal(execute(dir, ['--job', 'save', '-e', 'VARIANT=old']).code, 0);
    const [blob] = cacheBlobs(dir);
    const saved = daysAgo(16);
    backdateFsBlob(dirname(blob), saved);
    const missed = execute(dir, ['--job', 'restore']);
    assert.equal(missed.code, 0, missed.out);
    assert.ok(missed.out.includes(`No cache is found for key: v1- (the newest match, saved ${saved.toISOString()}, is past the 15-day cache retention)
`), missed.out);
    assert.doesNotMatch(missed.out, /Found a cache/);
    assert.match(missed.out, /\nno-deps\n/);
    const longer = execute(dir, ['--job', 'restore'], { DECKHAND_CACHE_RETENTION_DAYS: '30' });
    assert.match(longer.out, /Found a cache from build \d+ at v1-r\n/);
    assert.match(longer.out, /\nold\n/);
    const bad = execute(dir, ['--job', 'restore'], { DECKHAND_CACHE_RETENTION_DAYS: 'forever' });
    assert.equal(bad.code, 0, bad.out);
    assert.match(bad.out, /Warning: DECKHAND_CACHE_RETENTION_DAYS="forever" is not a whole number of days of at least 1; using 15 days\n/);
    // the expired key no longer blocks a save (CircleCI would have dropped it)
    const again = execute(dir, ['--job', 'save', '-e', 'VARIANT=new']);
    assert.equal(again.code, 0, again.out);
    assert.ok(again.out.includes(`Replacing the cache for key: v1-r, saved ${saved.toISOString()}: it is past the 15-day cache retention\n`), again.out);
    assert.match(again.out, /Stored Cache to v1-r\n/);
    const fresh = execute(dir, ['--job', 'restore']);
    assert.match(fresh.out, /Found a cache from build \d+ at v1-r\n/);
    assert.match(fresh.out, /\nnew\n/);
    assert.equal(cacheBlobs(dir).length, 1);
  });

  test("a job's retention: {caches: 3d} goes with the caches it saves: a miss after 3 days, pruned after 3 days", () => {
    const text = config({ saveKey: 'v1-own', restoreKeys: ['v1-'], paths: ['deps'], make: MAKE_TREE, check: 'cat ~/project/deps/variant.txt 2>/dev/null || echo no-deps' });
    const dir = repo(text.replace('  save:\n', '  save:\n    retention: {caches: 3d}\n'));
    assert.equal(execute(dir, ['--job', 'save', '-e', 'VARIANT=kept']).code, 0);
    const [blob] = cacheBlobs(dir);
    const meta = JSON.parse(readFileSync(join(dirname(blob), 'meta.json'), 'utf8')) as { metadata: Record<string, string> };
    assert.equal(meta.metadata['retention-days'], '3');
    backdateFsBlob(dirname(blob), daysAgo(2));
    assert.match(execute(dir, ['--job', 'restore']).out, /\nkept\n/);
    const saved = daysAgo(4);
    backdateFsBlob(dirname(blob), saved);
    const missed = execute(dir, ['--job', 'restore']);
    assert.ok(missed.out.includes(`No cache is found for key: v1- (the newest match, saved ${saved.toISOString()}, is past the 3-day cache retention)\n`), missed.out);
    const pruned = spawnSync(process.execPath, [deckhandBin, 'cache', 'prune'], { encoding: 'utf8', env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    assert.equal(pruned.status, 0, pruned.stderr);
    assert.match(pruned.stdout, /^Deleted 1 cache \(.+\) saved more than 15 days ago \(1 of them past their job's own retention\.caches\) from /);
    assert.deepEqual(cacheBlobs(dir), []);
  });

  test('templates: checksum (base64 SHA-256 of the file in the container), arch, epoch, environment', () => {
    const lock = '{"lockfileVersion": 3}\n';
    const expected = createHash('sha256').update(lock).digest('base64');
    const dir = repo(
      config({ saveKey: 'deps-{{ checksum "package-lock.json" }}-{{ arch }}-{{ epoch }}-{{ .Environment.CIRCLE_JOB }}-{{ .Revision }}-{{.BuildNum}}', restoreKeys: ['deps-'], paths: ['deps'], make: MAKE_TREE, check: 'true' }),
      { 'package-lock.json': lock },
    );
    const before = Math.floor(Date.now() / 1000);
    const r = execute(dir, ['--job', 'save', '-e', 'VARIANT=x']);
    assert.equal(r.code, 0, r.out);
    const m = /Stored Cache to deps-(\S+)-(arch1-linux-[a-z0-9]+(?:-\d+_\d+)?)-(\d+)-save-([0-9a-f]{40})-(\d+)\n/.exec(r.out);
    assert.ok(m, r.out);
    assert.equal(m[1], expected);
    assert.ok(Number(m[3]) >= before && Number(m[3]) <= Math.ceil(Date.now() / 1000));
  });

  test('a bad key template fails the step with a message that names it', () => {
    const dir = repo(config({ saveKey: 'v1-{{ .Nope }}', restoreKeys: ['v1-{{ checksum "missing.lock" }}'], paths: ['deps'], make: MAKE_TREE, check: 'true' }));
    const save = execute(dir, ['--job', 'save', '-e', 'VARIANT=x']);
    assert.equal(save.code, 1);
    assert.match(save.out, /cache key "v1-\{\{ \.Nope \}\}": unsupported template action \{\{ \.Nope \}\}; supported: /);
    const restore = execute(dir, ['--job', 'restore']);
    assert.equal(restore.code, 1);
    assert.match(restore.out, /cannot compute \{\{ checksum "\/root\/project\/missing\.lock" \}\}: .*no such file or directory/);
    const unclosed = repo(config({ saveKey: 'v1-{{ epoch', restoreKeys: ['x'], paths: ['deps'], make: MAKE_TREE, check: 'true' }));
    assert.match(execute(unclosed, ['--job', 'save', '-e', 'VARIANT=x']).out, /cache key "v1-\{\{ epoch": "\{\{" at column 4 is never closed with "\}\}"/);
  });

  test('an image without tar saves and restores through the engine, with the same result', () => {
    const dir = repo(`version: 2.1
jobs:
  save:
    docker: [{image: ${DEBIAN}}]
    steps:
      - run: rm /usr/bin/tar && mkdir -p deps/empty && echo x > deps/f && chmod 600 deps/f && ln -s f deps/l && chown 7:8 deps/f
      - save_cache: {key: v1-notar, paths: [deps]}
  restore:
    docker: [{image: ${DEBIAN}}]
    steps:
      - run: rm /usr/bin/tar && ! command -v tar
      - restore_cache: {key: v1-notar}
      - run: stat -c '%a %u:%g %F %n' deps/f deps/empty && readlink deps/l
`);
    assert.equal(execute(dir, ['--job', 'save']).code, 0);
    const r = execute(dir, ['--job', 'restore']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Unarchiving cache\.\.\.\nRestored /);
    assert.match(r.out, /\n600 7:8 regular file deps\/f\n755 0:0 directory deps\/empty\nf\n/);
  });

  describe('with an S3 store (moto)', () => {
    let moto: MotoServer;
    before(async () => {
      moto = await startMoto();
      await createMotoBucket(moto.endpoint, 'ci-caches');
    });
    after(async () => moto?.stop());

    test('save in one job, restore in the next, through s3://bucket/prefix', () => {
      const env = motoStoreEnv(moto.endpoint, 'AWS_ENDPOINT_URL_S3');
      const dir = repo(config({ saveKey: 'v1-s3', restoreKeys: ['v1-'], paths: ['deps', '~/.cache/tool'], make: MAKE_TREE, check: CHECK_TREE }));
      const saved = execute(dir, ['--job', 'save', '-e', 'VARIANT=s3', '--store', 's3://ci-caches/team/'], env);
      assert.equal(saved.code, 0, saved.out + saved.err);
      assert.match(saved.out, /Uploading cache archive to s3:\/\/ci-caches\/team\/\.\.\.\nStored Cache to v1-s3/);
      assert.doesNotMatch(saved.err, /NodeVersionSupportWarning/);
      const again = execute(dir, ['--job', 'save', '-e', 'VARIANT=s3', '--store', 's3://ci-caches/team/'], env);
      assert.match(again.out, /Skipping cache generation, cache already exists for key: v1-s3/);
      const restored = execute(dir, ['--job', 'restore', '--store', 's3://ci-caches/team'], env);
      assert.equal(restored.code, 0, restored.out + restored.err);
      assert.match(restored.out, /Found a cache from build \d+ at v1-s3\n/);
      assert.ok(restored.out.includes('640 regular file 0:0 deps/private.txt'), restored.out);
      assert.ok(restored.out.includes('s3\nhome\nrun'), restored.out);
    });
  });
});
