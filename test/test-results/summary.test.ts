// The summary a store_test_results step prints and stores: counts over several files, failures
// listed with where they are and the start of their message, unreadable files not counted.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseJunit } from '../../agent/test-results/junit.js';
import { formatSummary, summarize } from '../../agent/test-results/summary.js';
import { repoRoot } from '../support/repo-root.js';

const read = (name: string) => parseJunit(readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'junit', name), 'utf8'));

describe('summarize and formatSummary', () => {
  const summary = summarize('/p/results', [
    { path: '/p/results/rspec.xml', report: read('rspec.xml') },
    { path: '/p/results/go.xml', report: read('go-junit-report.xml') },
    { path: '/p/results/bad.xml', warning: 'malformed XML at line 6, column 5: …; skipped' },
  ]);

  it('counts over every readable file, files in path order', () => {
    assert.equal(summary.tests, 9);
    assert.equal(summary.passed, 4);
    assert.equal(summary.failures, 2);
    assert.equal(summary.errors, 1);
    assert.equal(summary.skipped, 2);
    assert.equal(summary.time, 2.845);
    assert.deepEqual(
      summary.files.map((f) => [f.path, f.tests, f.parsed]),
      [
        ['/p/results/bad.xml', 0, false],
        ['/p/results/go.xml', 5, true],
        ['/p/results/rspec.xml', 4, true],
      ],
    );
    assert.deepEqual(
      summary.failed.map((f) => [f.outcome, f.name]),
      [
        ['failed', 'TestRemove'],
        ['error', 'Failure'],
        ['failed', 'Cart#total sums the prices'],
      ],
    );
  });

  it('prints the counts, then each failure with suite/class, file and the first lines of its message', () => {
    const text = formatSummary(summary);
    assert.equal(
      text,
      [
        '9 tests, 2 failures, 1 error, 2 skipped in 2.845s (2 result files)',
        '',
        'Failed tests:',
        '  FAIL  github.com/acme/shop/cart > TestRemove',
        '        Failed',
        '            cart_test.go:25: got 2 items, want 1',
        '  ERROR github.com/acme/shop/db > Failure',
        '        Runtime error',
        '        panic: runtime error: invalid memory address or nil pointer dereference',
        '        [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4f8b2a]',
        '  FAIL  rspec / spec.models.cart_spec > Cart#total sums the prices  (./spec/models/cart_spec.rb)',
        '        expected: 30',
        '             got: 25',
        '        (compared using ==)',
        '        Failure/Error: expect(cart.total).to eq(30)',
        '        …',
        '',
      ].join('\n'),
    );
  });

  it('long messages are cut to their first lines; a clean run prints one line', () => {
    const many = summarize('/p', [
      { path: '/p/a.xml', report: parseJunit(`<testsuite><testcase name="t" classname="C"><failure message="${Array.from({ length: 10 }, (_, i) => `line ${i}`).join('&#10;')}"/></testcase></testsuite>`) },
    ]);
    assert.equal(many.failed[0].message, 'line 0\nline 1\nline 2\nline 3\n…');
    const clean = summarize('/p', [{ path: '/p/a.xml', report: parseJunit('<testsuite><testcase name="t" time="1"/></testsuite>') }]);
    assert.equal(formatSummary(clean), '1 test, 0 failures, 0 errors, 0 skipped in 1.000s (1 result file)\n');
  });
});
