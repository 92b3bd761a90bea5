// store_test_results and split-by=timings end to end: the real `deckhand execute` CLI and Docker.
// A first run of job `test` splits by timings with none stored (CircleCI's fallback message),
// writes rspec JUnit XML for a skewed suite and stores it (summary, failure listed); later runs of
// the same job, one per parallel node, get those timings at spin-up and balance by them.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { BUSYBOX, DEBIAN, execute, job, project } from '../support/execute.js';
import { SKEWED_SECONDS, skewedLoad } from './skewed-suite.js';

const SECONDS = SKEWED_SECONDS;
const FILES = Object.keys(SECONDS);

function junit(): string {
  const cases = FILES.map((file) => {
    const name = `${file.slice(5, 6).toUpperCase()} works`;
    const failure = file === 'spec/b_spec.rb' ? '<failure message="expected: 2&#10;     got: 3" type="RSpec::Expectations::ExpectationNotMetError">Failure/Error: expect(b).to eq(2)</failure>' : '';
    return `<testcase classname="${file.replace(/\.rb$/, '').replace(/\//g, '.')}" name="${name}" file="./${file}" time="${SECONDS[file]}">${failure}</testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="rspec" tests="10" skipped="0" failures="1" errors="0" time="146">\n${cases.join('\n')}\n</testsuite>\n`;
}

/** YAML block lines at the given indent. */
const indent = (text: string, n: number): string =>
  text
    .split('\n')
    .map((l) => (l === '' ? l : ' '.repeat(n) + l))
    .join('\n');

function config(image: string): string {
  const steps = [
    '      - run:',
    '          name: Split by timings',
    '          command: |',
    indent(`printf '%s\\n' ${FILES.join(' ')} | circleci tests split --split-by=timings --show-counts > /tmp/mine\necho "mine: $(cat /tmp/mine | tr '\\n' ' ')"`, 12),
    '      - run:',
    '          name: Run the tests',
    '          command: |',
    indent(`mkdir -p test-results\ncat > test-results/rspec.xml <<'XML'\n${junit()}XML`, 12),
    '      - store_test_results:',
    '          path: test-results',
  ].join('\n');
  return job(image, steps).replace('  build:', '  test:');
}

/** This node's files as the job printed them. */
function mine(out: string): string[] {
  const m = /^mine: (.*)$/m.exec(out);
  assert.ok(m, out);
  return m[1].trim().split(' ').filter(Boolean);
}

describe('store_test_results and tests split --split-by=timings through deckhand execute', { concurrency: false }, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  for (const image of [BUSYBOX, DEBIAN]) {
    it(`in ${image}: the first run falls back to names and stores timings; later nodes balance by them`, () => {
      const dir = project(config(image));
      dirs.push(dir);
      const first = execute(dir, ['--job', 'test']);
      assert.equal(first.code, 0, first.out + first.err);
      assert.match(first.out, /Error auto-detecting timing type, falling back to weighting by name\./);
      assert.match(first.out, /^10 tests, 1 failure, 0 errors, 0 skipped in 146\.000s \(1 result file\)$/m);
      assert.match(first.out, /^ {2}FAIL {2}rspec \/ spec\.b_spec > B works {2}\(\.\/spec\/b_spec\.rb\)$/m);
      assert.match(first.out, /^ {8}expected: 2$/m);
      assert.match(first.out, /^Recorded timings for job test: 10 files, 10 classes, 10 test names$/m);
      assert.match(first.log, /10 tests, 1 failure/);

      const shares: string[][] = [];
      for (let index = 0; index < 3; index++) {
        const r = execute(dir, ['--job', 'test', '--node-total', '3', '--index', String(index)]);
        assert.equal(r.code, 0, r.out + r.err);
        assert.doesNotMatch(r.out, /falling back/);
        assert.match(r.out, /^node 0: 1 files, 50\.000s$/m);
        shares.push(mine(r.out));
      }
      assert.deepEqual(shares.flat().sort(), FILES);
      const byName = [0, 1, 2].map((node) => FILES.filter((_, i) => i % 3 === node));
      assert.equal(Math.max(...shares.map(skewedLoad)), 50);
      assert.equal(Math.max(...byName.map(skewedLoad)), 140);
    });
  }
});
