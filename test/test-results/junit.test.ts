// JUnit XML from each tool's own dialect (fixtures in test/fixtures/junit, written in each tool's
// format): counts, outcomes, messages and times read exactly; malformed and non-JUnit input
// rejected with a position.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { JunitError, parseJunit, parseSeconds, type JunitReport } from '../../agent/test-results/junit.js';
import { repoRoot } from '../support/repo-root.js';
import { caseNamed, outcomes } from './report-cases.js';

const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'junit');

function fixture(name: string): JunitReport {
  return parseJunit(readFileSync(path.join(FIXTURES, name), 'utf8'));
}

function totalTime(report: JunitReport): number {
  return Math.round(report.cases.reduce((sum, c) => sum + (c.time ?? 0), 0) * 1e6) / 1e6;
}

describe('parseJunit over each tool', () => {
  it('jest-junit: file on every case, failure without a message attribute, <skipped/>', () => {
    const r = fixture('jest-junit.xml');
    assert.equal(r.suites, 2);
    assert.equal(r.cases.length, 6);
    assert.deepEqual(outcomes(r), { passed: 4, failed: 1, error: 0, skipped: 1 });
    assert.equal(totalTime(r), 2.365);
    const failed = caseNamed(r, 'Cart totals the prices');
    assert.equal(failed.file, 'src/cart.test.js');
    assert.equal(failed.suite, 'src/cart.test.js');
    assert.equal(failed.time, 1.25);
    assert.equal(failed.message, undefined);
    assert.match(failed.detail ?? '', /^Error: expect\(received\)\.toBe\(expected\)/);
    assert.match(failed.detail ?? '', /Received: 25/);
    assert.equal(caseNamed(r, 'Cart ships abroad').outcome, 'skipped');
  });

  it('pytest xunit1 (legacy): file and line attributes, failure, error and skip with messages, entities decoded', () => {
    const r = fixture('pytest-xunit1.xml');
    assert.equal(r.suites, 1);
    assert.deepEqual(outcomes(r), { passed: 2, failed: 1, error: 1, skipped: 1 });
    assert.equal(totalTime(r), 3.474);
    const failed = caseNamed(r, 'test_create_item');
    assert.equal(failed.classname, 'tests.test_api');
    assert.equal(failed.file, 'tests/test_api.py');
    assert.equal(failed.message, 'AssertionError: assert 500 == 201\n +  where 500 = <Response [500]>.status_code');
    assert.match(failed.detail ?? '', /^client = <FlaskClient <Flask 'shop'>>/);
    const error = caseNamed(r, 'test_migrate');
    assert.equal(error.outcome, 'error');
    assert.equal(error.message, 'failed on setup with "sqlite3.OperationalError: unable to open database file"');
    const skipped = caseNamed(r, 'test_backup');
    assert.equal(skipped.message, 'needs S3 credentials');
    assert.equal(caseNamed(r, 'test_price[1-1.00]').time, 1.1);
  });

  it('pytest xunit2: no file attributes, properties ignored', () => {
    const r = fixture('pytest-xunit2.xml');
    assert.deepEqual(outcomes(r), { passed: 2, failed: 1, error: 0, skipped: 0 });
    assert.equal(totalTime(r), 0.812);
    assert.ok(r.cases.every((c) => c.file === undefined && c.classname === 'tests.unit.test_money'));
    assert.equal(caseNamed(r, 'test_divide_by_zero').message, 'ZeroDivisionError: division by zero');
  });

  it('mocha-junit-reporter: file on the suite applies to its cases, CDATA failure body', () => {
    const r = fixture('mocha-junit-reporter.xml');
    assert.equal(r.suites, 3);
    assert.deepEqual(outcomes(r), { passed: 2, failed: 1, error: 0, skipped: 1 });
    assert.equal(totalTime(r), 1.226);
    const failed = caseNamed(r, 'API POST /items rejects bad input');
    assert.equal(failed.file, '/home/circleci/project/test/api.spec.js');
    assert.equal(failed.suite, 'API');
    assert.equal(failed.message, 'expected 500 to equal 400');
    assert.match(failed.detail ?? '', /^AssertionError: expected 500 to equal 400\n    at Context.<anonymous> \(test\/api\.spec\.js:27:31\)/);
    assert.equal(caseNamed(r, 'util slugifies titles').file, '/home/circleci/project/test/util.spec.js');
  });

  it('go-junit-report: package suites, failure, skip and a panic as error', () => {
    const r = fixture('go-junit-report.xml');
    assert.equal(r.suites, 2);
    assert.deepEqual(outcomes(r), { passed: 2, failed: 1, error: 1, skipped: 1 });
    assert.equal(totalTime(r), 0.74);
    assert.equal(caseNamed(r, 'TestRemove').detail, '    cart_test.go:25: got 2 items, want 1');
    assert.equal(caseNamed(r, 'TestTotal/with_discount').classname, 'github.com/acme/shop/cart');
    const panic = caseNamed(r, 'Failure');
    assert.equal(panic.outcome, 'error');
    assert.equal(panic.message, 'Runtime error');
    assert.match(panic.detail ?? '', /^panic: runtime error: invalid memory address/);
  });

  it('Maven Surefire: <testsuite> root, grouped and decimal-comma times, flaky reruns count as passed', () => {
    const cart = fixture('surefire/TEST-com.acme.shop.CartTest.xml');
    assert.equal(cart.suites, 1);
    assert.deepEqual(outcomes(cart), { passed: 1, failed: 1, error: 1, skipped: 1 });
    assert.equal(caseNamed(cart, 'addsItem').time, 1234.5);
    assert.equal(caseNamed(cart, 'connectsToInventory').time, 0.005);
    assert.equal(totalTime(cart), 1234.517);
    assert.equal(caseNamed(cart, 'removesItem').message, 'expected: <1> but was: <2>');
    assert.equal(caseNamed(cart, 'shipsAbroad').message, 'disabled until #42');
    const price = fixture('surefire/TEST-com.acme.shop.PriceTest.xml');
    assert.deepEqual(outcomes(price), { passed: 2, failed: 0, error: 0, skipped: 0 });
  });

  it('rspec_junit_formatter: ./ file paths, multi-line message attribute', () => {
    const r = fixture('rspec.xml');
    assert.deepEqual(outcomes(r), { passed: 2, failed: 1, error: 0, skipped: 1 });
    assert.equal(totalTime(r), 2.104525);
    const failed = caseNamed(r, 'Cart#total sums the prices');
    assert.equal(failed.file, './spec/models/cart_spec.rb');
    assert.equal(failed.message, '\nexpected: 30\n     got: 25\n\n(compared using ==)\n');
    assert.match(failed.detail ?? '', /in `block \(3 levels\) in <top \(required\)>'$/);
  });

  it('nested testsuites (PHPUnit): every level walked, innermost suite named', () => {
    const r = fixture('nested.xml');
    assert.equal(r.suites, 4);
    assert.equal(r.cases.length, 3);
    const data = caseNamed(r, 'testTotal with data set #0');
    assert.equal(data.suite, 'Tests\\Unit\\CartTest::testTotal');
    assert.equal(data.classname, 'Tests.Unit.CartTest');
    assert.equal(data.file, '/app/tests/Unit/CartTest.php');
  });
});

describe('parseJunit on bad input', () => {
  it('malformed XML: a JunitError with line and column', () => {
    assert.throws(
      () => fixture('malformed.xml'),
      (err: unknown) => err instanceof JunitError && err.line === 6 && typeof err.column === 'number' && /testcase/.test(err.message),
    );
  });

  it('XML that is not JUnit, an empty file, plain text', () => {
    assert.throws(() => parseJunit('<?xml version="1.0"?><coverage line-rate="0.9"/>'), /not JUnit XML: the root element is <coverage>/);
    assert.throws(() => parseJunit(''), JunitError);
    assert.throws(() => parseJunit('PASS src/cart.test.js'), JunitError);
  });

  it('a byte-order mark, absent times, a case with no name, text-only failure', () => {
    const r = parseJunit('\uFEFF<testsuite><testcase classname="a"/><testcase name="b" time=""><failure>boom</failure></testcase></testsuite>');
    assert.equal(r.cases.length, 2);
    assert.equal(r.cases[0].name, '(unnamed)');
    assert.equal(r.cases[0].time, undefined);
    assert.equal(r.cases[1].time, undefined);
    assert.equal(r.cases[1].detail, 'boom');
    assert.equal(r.cases[1].outcome, 'failed');
  });

  it('DOCTYPE entities are not expanded into a billion laughs', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><testsuite><testcase name="&lol3;"/></testsuite>`;
    let name = '';
    try {
      name = parseJunit(bomb).cases[0].name;
    } catch (err) {
      assert.ok(err instanceof Error); // refusing the document is fine too
    }
    assert.ok(name.length <= 3000, `expanded to ${name.length} characters`);
  });
});

describe('parseSeconds', () => {
  it('reads what tools write', () => {
    const cases: Array<[string | undefined, number | undefined]> = [
      ['1.5', 1.5],
      ['0.0100', 0.01],
      ['0', 0],
      ['.25', 0.25],
      ['1e-3', 0.001],
      ['1,234.567', 1234.567],
      ['12,345', 12345],
      ['0,5', 0.5],
      ['12,5', 12.5],
      [' 2 ', 2],
      [undefined, undefined],
      ['', undefined],
      ['-1', undefined],
      ['NaN', undefined],
      ['1.5s', undefined],
    ];
    for (const [raw, want] of cases) assert.equal(parseSeconds(raw), want, String(raw));
  });
});
