/**
 * JUnit XML as Jest (with jest-junit) and Mocha (with mocha-junit-reporter) write it — the
 * reporters CircleCI's docs set up for JavaScript — not fixtures: a small suite (pass, assertion
 * failure, skip, a slow test; Mocha also a failing hook) run by the real tools from this
 * project's devDependencies, and the files they wrote parsed and turned into timings.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseJunit, type JunitReport } from '../../agent/test-results/junit.js';
import { timingsOf } from '../../agent/test-results/timings.js';
import { caseNamed, outcomes } from './report-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-real-js-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const require = createRequire(import.meta.url);
/** A package's folder in node_modules (its `exports` may hide its bin files from resolve). */
const packageDir = (name: string): string => dirname(require.resolve(`${name}/package.json`));

/** Runs `args` with node in `cwd`; the suites fail on purpose, so the tool's failure status is expected. */
function run(cwd: string, args: string[], env: NodeJS.ProcessEnv, status: number): void {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  assert.ok(!r.error, `${args[0]} could not be run: ${r.error?.message}`);
  assert.equal(r.status, status, r.stdout + r.stderr);
}

describe('JUnit XML written by the real Jest and jest-junit', () => {
  test('outcomes, the file of every case, a failure without a message attribute, times; timings by file', () => {
    const root = join(dir, 'jest');
    mkdirSync(join(root, '__tests__'), { recursive: true });
    writeFileSync(join(root, 'package.json'), '{"name": "shop"}\n');
    writeFileSync(
      join(root, '__tests__', 'cart.test.js'),
      `describe('cart', () => {
  test('adds items', () => { expect(1 + 1).toBe(2); });
  test('totals prices', () => { expect([10, 15].reduce((a, b) => a + b)).toBe(20); });
  test.skip('syncs with the server', () => {});
  test('is slow', async () => { await new Promise((r) => setTimeout(r, 300)); });
});
`,
    );
    // as CircleCI's docs run it: jest --ci --reporters=default --reporters=jest-junit
    run(root, [join(packageDir('jest'), 'bin', 'jest.js'), '--ci', '--watchman=false', '--rootDir', root, '--reporters=default', `--reporters=${packageDir('jest-junit')}`], {
      JEST_JUNIT_OUTPUT_DIR: join(root, 'reports'),
      JEST_JUNIT_ADD_FILE_ATTRIBUTE: 'true',
    }, 1);
    const report: JunitReport = parseJunit(readFileSync(join(root, 'reports', 'junit.xml'), 'utf8'));
    assert.deepEqual(outcomes(report), { passed: 2, failed: 1, error: 0, skipped: 1 });
    assert.ok(report.cases.every((c) => c.file === '__tests__/cart.test.js' && c.suite === 'cart'));
    const failed = caseNamed(report, 'cart totals prices');
    assert.equal(failed.message, undefined);
    assert.match(failed.detail ?? '', /Expected: 20\s+Received: 25/);
    const slow = caseNamed(report, 'cart is slow').time ?? 0;
    assert.ok(slow >= 0.3 && slow < 30, `the slow test took ${slow}s`);
    const files = timingsOf(report.cases, root).filter((t) => t.type === 'file');
    assert.deepEqual(files.map((t) => t.name), ['__tests__/cart.test.js']);
    assert.ok(files[0].seconds >= 0.3);
  });
});

describe('JUnit XML written by the real Mocha and mocha-junit-reporter', () => {
  test('outcomes, a failing hook as a failed case, messages, the suite file made relative; timings by file', () => {
    const root = join(dir, 'mocha');
    mkdirSync(join(root, 'test'), { recursive: true });
    writeFileSync(
      join(root, 'test', 'cart.spec.js'),
      `const assert = require('node:assert');
describe('cart', function () {
  it('adds items', function () { assert.strictEqual(1 + 1, 2); });
  it('totals prices', function () { assert.strictEqual([10, 15].reduce((a, b) => a + b), 20); });
  it.skip('syncs with the server', function () {});
  it('is slow', function (done) { setTimeout(done, 300); });
  describe('checkout', function () {
    before(function () { throw new Error('unable to reach the payment sandbox'); });
    it('charges the card', function () {});
  });
});
`,
    );
    const out = join(root, 'reports', 'mocha.xml');
    // mocha exits with the number of failures: two here (an assertion and a hook)
    run(root, [join(packageDir('mocha'), 'bin', 'mocha.js'), '--reporter', packageDir('mocha-junit-reporter'), '--reporter-options', 'includePending=true', 'test/cart.spec.js'], { MOCHA_FILE: out }, 2);
    const report = parseJunit(readFileSync(out, 'utf8'));
    assert.deepEqual(outcomes(report), { passed: 2, failed: 2, error: 0, skipped: 1 });
    assert.match(caseNamed(report, 'cart totals prices').message ?? '', /25 !== 20/);
    assert.equal(caseNamed(report, 'cart checkout "before all" hook for "charges the card"').message, 'unable to reach the payment sandbox');
    // the reporter names the file on the suite, absolutely; timings keep it relative to the project
    assert.ok(report.cases.every((c) => c.file === join(root, 'test', 'cart.spec.js')));
    const files = timingsOf(report.cases, root).filter((t) => t.type === 'file');
    assert.deepEqual(files.map((t) => t.name), ['test/cart.spec.js']);
    assert.ok(files[0].seconds >= 0.3);
  });
});
