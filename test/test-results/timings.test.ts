// Timings from parsed reports: sums per file (relative to the working directory, no ./), class
// and test name; TSV round trip; newest run wins per name.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseJunit } from '../../agent/test-results/junit.js';
import { decodeTimings, encodeTimings, mergeTimings, relativeTestFile, timingsOf, type TimingRecord } from '../../agent/test-results/timings.js';
import { repoRoot } from '../support/repo-root.js';

function timingsOfFixture(name: string, workingDirectory: string): Record<string, number> {
  const report = parseJunit(readFileSync(path.join(repoRoot(), 'test', 'fixtures', 'junit', name), 'utf8'));
  const out: Record<string, number> = {};
  for (const r of timingsOf(report.cases, workingDirectory)) out[`${r.type} ${r.name}`] = Math.round(r.seconds * 1e6) / 1e6;
  return out;
}

function only(records: Record<string, number>, type: string): Record<string, number> {
  return Object.fromEntries(Object.entries(records).filter(([k]) => k.startsWith(`${type} `)));
}

describe('timingsOf', () => {
  it('rspec: files without ./, classes, test names', () => {
    const t = timingsOfFixture('rspec.xml', '/home/circleci/project');
    assert.deepEqual(only(t, 'file'), { 'file spec/models/cart_spec.rb': 1.554418, 'file spec/requests/items_spec.rb': 0.550107 });
    assert.deepEqual(only(t, 'classname'), { 'classname spec.models.cart_spec': 1.554418, 'classname spec.requests.items_spec': 0.550107 });
    assert.equal(t['testname Cart#total sums the prices'], 1.512301);
  });

  it('mocha: absolute suite files made relative to the working directory', () => {
    const t = timingsOfFixture('mocha-junit-reporter.xml', '/home/circleci/project/');
    assert.deepEqual(only(t, 'file'), { 'file test/api.spec.js': 1.015, 'file test/util.spec.js': 0.211 });
  });

  it('go-junit-report and pytest xunit2: no file attributes, so classes only', () => {
    assert.deepEqual(only(timingsOfFixture('go-junit-report.xml', '/root/project'), 'file'), {});
    assert.deepEqual(only(timingsOfFixture('go-junit-report.xml', '/root/project'), 'classname'), { 'classname github.com/acme/shop/cart': 0.74, 'classname github.com/acme/shop/db': 0 });
    assert.deepEqual(only(timingsOfFixture('pytest-xunit2.xml', '/root/project'), 'classname'), { 'classname tests.unit.test_money': 0.812 });
  });

  it('pytest xunit1, jest, Surefire, nested', () => {
    assert.deepEqual(only(timingsOfFixture('pytest-xunit1.xml', '/root/project'), 'file'), { 'file tests/test_api.py': 2.37, 'file tests/test_db.py': 0.004, 'file tests/test_models.py': 1.1 });
    assert.deepEqual(only(timingsOfFixture('jest-junit.xml', '/root/project'), 'file'), { 'file src/cart.test.js': 1.854, 'file src/price.test.js': 0.511 });
    assert.deepEqual(only(timingsOfFixture('surefire/TEST-com.acme.shop.CartTest.xml', '/root/project'), 'classname'), { 'classname com.acme.shop.CartTest': 1234.517 });
    assert.deepEqual(only(timingsOfFixture('nested.xml', '/app'), 'file'), { 'file tests/Unit/CartTest.php': 0.5, 'file tests/Unit/PriceTest.php': 0.4 });
  });

  it('a case without time adds nothing; tabs and newlines in names become spaces', () => {
    const records = timingsOf(
      [
        { suite: '', classname: 'A', name: 'no time', outcome: 'passed' },
        { suite: '', classname: 'A\tB', name: 'two\nlines', time: 2, outcome: 'passed', file: './x.rb' },
      ],
      '/w',
    );
    assert.deepEqual(records, [
      { type: 'file', name: 'x.rb', seconds: 2 },
      { type: 'classname', name: 'A B', seconds: 2 },
      { type: 'testname', name: 'two lines', seconds: 2 },
    ]);
  });

  it('relativeTestFile', () => {
    assert.equal(relativeTestFile('./spec/a_spec.rb', '/p'), 'spec/a_spec.rb');
    assert.equal(relativeTestFile('/p/spec/a_spec.rb', '/p'), 'spec/a_spec.rb');
    assert.equal(relativeTestFile('/other/a_spec.rb', '/p'), '/other/a_spec.rb');
    assert.equal(relativeTestFile('/pp/a.rb', '/p'), '/pp/a.rb');
  });
});

describe('TSV and merging', () => {
  const run1: TimingRecord[] = [
    { type: 'file', name: 'a.rb', seconds: 1 },
    { type: 'file', name: 'b.rb', seconds: 2.0004 },
    { type: 'classname', name: 'A', seconds: 3 },
  ];
  it('round-trips, sorted by type then name, three decimals', () => {
    const text = encodeTimings([...run1].reverse());
    assert.equal(text, 'file\ta.rb\t1\nfile\tb.rb\t2\nclassname\tA\t3\n');
    assert.deepEqual(decodeTimings(text), [run1[0], { ...run1[1], seconds: 2 }, run1[2]]);
  });

  it('decoding skips lines that are not type, name, seconds', () => {
    assert.deepEqual(decodeTimings('suite\tx\t1\nfile\t\t1\nfile\tok\t-2\nfile\tok\tabc\nfile\ta\t1\textra\n\nfile\tgood\t0.5'), [{ type: 'file', name: 'good', seconds: 0.5 }]);
  });

  it('newest run wins per name; names only older runs know are kept', () => {
    const newer: TimingRecord[] = [{ type: 'file', name: 'b.rb', seconds: 9 }];
    assert.deepEqual(mergeTimings([newer, run1]), [newer[0], run1[0], run1[2]]);
  });
});
