/**
 * What one `store_test_results` step found: counts over every result file, the failed tests
 * with the start of their messages, and a line per file that could not be read. It is printed
 * in the step's output and stored as JSON beside the raw files.
 */
import type { JunitReport, TestCaseResult } from './junit.js';

export interface FailedTest {
  outcome: 'failed' | 'error';
  suite: string;
  classname: string;
  name: string;
  file?: string;
  /** the first lines of the message, followed by the detail's unless it repeats the message */
  message: string;
}

export interface ResultFileSummary {
  /** the file's path in the container */
  path: string;
  tests: number;
  /** whether it was read and counted (not malformed, not too large) */
  parsed: boolean;
  warning?: string;
}

export interface TestResultsSummary {
  /** the `path` of the step, as resolved in the container */
  path: string;
  files: ResultFileSummary[];
  tests: number;
  passed: number;
  failures: number;
  errors: number;
  skipped: number;
  /** seconds: the sum of the test cases' times */
  time: number;
  failed: FailedTest[];
}

/** One result file: its report, or why it has none. */
export interface ReadResultFile {
  path: string;
  report?: JunitReport;
  warning?: string;
}

const MESSAGE_LINES = 4;
const MESSAGE_CHARS = 600;
/** failures listed in the step output; the stored summary keeps them all */
const LISTED_FAILURES = 50;

export function summarize(path: string, files: ReadResultFile[]): TestResultsSummary {
  const s: TestResultsSummary = { path, files: [], tests: 0, passed: 0, failures: 0, errors: 0, skipped: 0, time: 0, failed: [] };
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    s.files.push({ path: f.path, tests: f.report?.cases.length ?? 0, parsed: f.report !== undefined, ...(f.warning ? { warning: f.warning } : {}) });
    for (const c of f.report?.cases ?? []) {
      s.tests++;
      s.time += c.time ?? 0;
      if (c.outcome === 'passed') s.passed++;
      else if (c.outcome === 'skipped') s.skipped++;
      else {
        if (c.outcome === 'failed') s.failures++;
        else s.errors++;
        s.failed.push(failedTest(c, c.outcome));
      }
    }
  }
  s.time = Math.round(s.time * 1000) / 1000;
  return s;
}

function failedTest(c: TestCaseResult, outcome: 'failed' | 'error'): FailedTest {
  // go-junit-report's message is just "Failed": the detail says what; Surefire's and mocha's detail repeats the message
  const message = c.message?.trim() ?? '';
  const text = message && c.detail && !c.detail.includes(message) ? `${c.message}\n${c.detail}` : c.message || c.detail || '';
  const f: FailedTest = { outcome, suite: c.suite, classname: c.classname, name: c.name, message: firstLines(text) };
  if (c.file) f.file = c.file;
  return f;
}

function firstLines(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  let out = lines.slice(0, MESSAGE_LINES).join('\n');
  if (out.length > MESSAGE_CHARS) out = `${out.slice(0, MESSAGE_CHARS)}…`;
  else if (lines.length > MESSAGE_LINES) out += '\n…';
  return out;
}

/** The summary as the step prints it: the counts, then each failed test with where it is. */
export function formatSummary(s: TestResultsSummary): string {
  const counted = s.files.filter((f) => f.parsed).length;
  const out: string[] = [];
  out.push(
    `${s.tests} ${plural(s.tests, 'test')}, ${s.failures} ${plural(s.failures, 'failure')}, ${s.errors} ${plural(s.errors, 'error')}, ${s.skipped} skipped in ${s.time.toFixed(3)}s` +
      ` (${counted} result ${plural(counted, 'file')})`,
  );
  if (s.failed.length > 0) {
    out.push('', 'Failed tests:');
    for (const f of s.failed.slice(0, LISTED_FAILURES)) {
      // jest repeats the test name as the class and the file as the suite; mocha puts the class inside the name
      const suite = f.suite !== f.classname && f.suite !== f.file ? f.suite : '';
      const classname = f.name.includes(f.classname) ? '' : f.classname;
      const where = [suite, classname].filter((x) => x !== '').join(' / ');
      out.push(`  ${f.outcome === 'error' ? 'ERROR' : 'FAIL '} ${where ? `${where} > ` : ''}${f.name}${f.file ? `  (${f.file})` : ''}`);
      for (const line of f.message.split('\n')) if (line !== '') out.push(`        ${line}`);
    }
    if (s.failed.length > LISTED_FAILURES) out.push(`  … and ${s.failed.length - LISTED_FAILURES} more`);
  }
  return `${out.join('\n')}\n`;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}
