/** Reading a parsed JUnit report in tests: how many cases ended each way, and one case by name. */
import assert from 'node:assert/strict';
import type { CaseOutcome, JunitReport, TestCaseResult } from '../../agent/test-results/junit.js';

export function outcomes(report: JunitReport): Record<CaseOutcome, number> {
  const n: Record<CaseOutcome, number> = { passed: 0, failed: 0, error: 0, skipped: 0 };
  for (const c of report.cases) n[c.outcome]++;
  return n;
}

export function caseNamed(report: JunitReport, name: string): TestCaseResult {
  const found = report.cases.find((c) => c.name === name);
  assert.ok(found, `no case named ${name} in ${report.cases.map((c) => c.name).join(', ')}`);
  return found;
}
