/**
 * JUnit XML as pytest itself writes it, not a fixture: a small suite (pass, assertion failure,
 * setup error, skip, parametrised cases, a slow test) is run by the real pytest in both its
 * dialects (`junit_family=xunit1`, with file attributes, and `xunit2`, pytest's default), and
 * the files it wrote are parsed and turned into timings. pytest comes with this machine's Python
 * (`pip install pytest` where it does not).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseJunit, type JunitReport } from '../../agent/test-results/junit.js';
import { timingsOf } from '../../agent/test-results/timings.js';
import { caseNamed, outcomes } from './report-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-real-pytest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SUITE = `import time
import pytest

@pytest.fixture
def database():
    raise RuntimeError("unable to open database file")

def test_adds():
    assert 1 + 1 == 2

def test_totals():
    prices = [10, 15]
    assert sum(prices) == 20

def test_migrates(database):
    pass

@pytest.mark.skip(reason="needs S3 credentials")
def test_backup():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_square(n):
    assert n * n >= n

def test_slow():
    time.sleep(0.3)
`;

function runPytest(family: 'xunit1' | 'xunit2'): JunitReport {
  mkdirSync(join(dir, 'tests'), { recursive: true });
  writeFileSync(join(dir, 'tests', 'test_shop.py'), SUITE);
  const out = join(dir, `${family}.xml`);
  const r = spawnSync('pytest', ['-q', '-p', 'no:cacheprovider', `--junitxml=${out}`, '-o', `junit_family=${family}`, 'tests'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.ok(!r.error, `pytest could not be run (${r.error?.message}): install it with \`pip install pytest\``);
  // exit 1: tests failed, as they should
  assert.equal(r.status, 1, r.stdout + r.stderr);
  return parseJunit(readFileSync(out, 'utf8'));
}

describe('JUnit XML written by the real pytest', () => {
  for (const family of ['xunit1', 'xunit2'] as const) {
    test(`${family}: outcomes, messages, classnames and times read as pytest wrote them`, () => {
      const r = runPytest(family);
      assert.deepEqual(outcomes(r), { passed: 4, failed: 1, error: 1, skipped: 1 });
      for (const c of r.cases) assert.equal(c.classname, 'tests.test_shop');
      const failed = caseNamed(r, 'test_totals');
      assert.match(failed.message ?? '', /^assert 25 == 20/);
      assert.match(failed.detail ?? '', /def test_totals\(\):/);
      const error = caseNamed(r, 'test_migrates');
      assert.match(error.message ?? '', /failed on setup with "RuntimeError: unable to open database file"/);
      assert.equal(caseNamed(r, 'test_backup').message, 'needs S3 credentials');
      assert.ok(caseNamed(r, 'test_square[2]'));
      const slow = caseNamed(r, 'test_slow').time ?? 0;
      assert.ok(slow >= 0.3 && slow < 30, `test_slow took ${slow}s`);
      const timings = timingsOf(r.cases, dir);
      const files = timings.filter((t) => t.type === 'file');
      if (family === 'xunit1') {
        // xunit1 names each case's file: timings by file are what --split-by=timings uses
        assert.ok(r.cases.every((c) => c.file === 'tests/test_shop.py'));
        assert.equal(files.length, 1);
        assert.equal(files[0].name, 'tests/test_shop.py');
        assert.ok(files[0].seconds >= 0.3);
      } else {
        // xunit2 has no file attribute: only classnames and test names can be timed
        assert.ok(r.cases.every((c) => c.file === undefined));
        assert.equal(files.length, 0);
      }
      assert.ok((timings.find((t) => t.type === 'classname' && t.name === 'tests.test_shop')?.seconds ?? 0) >= 0.3);
    });
  }
});
