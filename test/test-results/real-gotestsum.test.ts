/**
 * JUnit XML as gotestsum writes it for `go test` — what CircleCI's docs have Go projects store
 * with store_test_results — not a fixture: a small package (pass, failure, skip, subtests, a slow
 * test) tested by the real Go toolchain through gotestsum (scripts/ensure-test-tools.sh builds
 * it), and the file parsed and turned into timings.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseJunit } from '../../agent/test-results/junit.js';
import { timingsOf } from '../../agent/test-results/timings.js';
import { caseNamed, outcomes } from './report-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-real-gotestsum-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CART_TEST = `package shop

import (
	"testing"
	"time"
)

func TestAdds(t *testing.T) {
	if 1+1 != 2 {
		t.Fatal("arithmetic is broken")
	}
}

func TestTotals(t *testing.T) {
	if got := 10 + 15; got != 20 {
		t.Errorf("total = %d, want 20", got)
	}
}

func TestBackup(t *testing.T) {
	t.Skip("needs S3 credentials")
}

func TestSquare(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(map[int]string{1: "one", 2: "two"}[n], func(t *testing.T) {
			if n*n < n {
				t.Fail()
			}
		})
	}
}

func TestSlow(t *testing.T) {
	time.Sleep(300 * time.Millisecond)
}
`;

test('JUnit XML written by the real gotestsum: outcomes, output as messages, subtests, times; timings by package', () => {
  mkdirSync(join(dir, 'shop'), { recursive: true });
  writeFileSync(join(dir, 'go.mod'), 'module example.com/shop\n\ngo 1.22\n');
  writeFileSync(join(dir, 'shop', 'cart_test.go'), CART_TEST);
  const out = join(dir, 'reports', 'go-test.xml');
  mkdirSync(join(dir, 'reports'));
  const r = spawnSync('gotestsum', ['--junitfile', out, '--', './...'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 300_000,
    // the machine's Go, whatever go.mod says: nothing is downloaded
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' },
  });
  assert.ok(!r.error, `gotestsum could not be run (${r.error?.message}): run scripts/ensure-test-tools.sh`);
  // exit 1: a test failed, as it should
  assert.equal(r.status, 1, r.stdout + r.stderr);
  const report = parseJunit(readFileSync(out, 'utf8'));
  // TestSquare and its two subtests are three cases
  assert.deepEqual(outcomes(report), { passed: 5, failed: 1, error: 0, skipped: 1 });
  assert.ok(report.cases.every((c) => c.classname === 'example.com/shop/shop' && c.file === undefined));
  assert.ok(caseNamed(report, 'TestSquare/two'));
  assert.match(caseNamed(report, 'TestTotals').detail ?? '', /cart_test\.go:\d+: total = 25, want 20/);
  assert.match(caseNamed(report, 'TestBackup').message ?? '', /needs S3 credentials/);
  const slow = caseNamed(report, 'TestSlow').time ?? 0;
  assert.ok(slow >= 0.3 && slow < 30, `TestSlow took ${slow}s`);
  // no file attributes: go test is split by package (classname) or test name
  const timings = timingsOf(report.cases, dir);
  assert.equal(timings.filter((t) => t.type === 'file').length, 0);
  assert.ok((timings.find((t) => t.type === 'classname' && t.name === 'example.com/shop/shop')?.seconds ?? 0) >= 0.3);
});
