/**
 * Test timings: how long each test file, class and test took, as `circleci tests split
 * --split-by=timings` weighs them. Kept as TSV lines `type<TAB>name<TAB>seconds`, the form the
 * in-container tool reads with awk, both in the store and in the job container.
 */
import type { TestCaseResult } from './junit.js';

/** What a name is: a test file, a class name or a test name (`--timings-type`). */
export type TimingType = 'file' | 'classname' | 'testname';

export interface TimingRecord {
  type: TimingType;
  name: string;
  seconds: number;
}

const TYPES: readonly TimingType[] = ['file', 'classname', 'testname'];

/**
 * The timings of one run: per file, per class and per test name, each the sum over its test
 * cases that have a time. A test without `time` adds nothing; a file is known only through
 * `file` attributes (as on CircleCI, which needs them for filename splitting).
 */
export function timingsOf(cases: Iterable<TestCaseResult>, workingDirectory: string): TimingRecord[] {
  const sums = new Map<string, TimingRecord>();
  const add = (type: TimingType, name: string, seconds: number): void => {
    const clean = cleanName(name);
    if (clean === '') return;
    const key = `${type}\t${clean}`;
    const r = sums.get(key);
    if (r) r.seconds += seconds;
    else sums.set(key, { type, name: clean, seconds });
  };
  for (const c of cases) {
    if (c.time === undefined) continue;
    if (c.file) add('file', relativeTestFile(c.file, workingDirectory), c.time);
    if (c.classname) add('classname', c.classname, c.time);
    add('testname', c.name, c.time);
  }
  return [...sums.values()];
}

/**
 * A test file as `circleci tests glob` prints it: relative to the working directory, no `./`.
 * Tools write `./spec/a_spec.rb` (rspec), `/home/circleci/project/test/a.js` (mocha) or
 * `src/a.test.js` (jest); the split tool strips `./` from its input the same way.
 */
export function relativeTestFile(file: string, workingDirectory: string): string {
  let f = file;
  const wd = workingDirectory.replace(/\/+$/, '');
  if (wd !== '' && f.startsWith(`${wd}/`)) f = f.slice(wd.length + 1);
  while (f.startsWith('./')) f = f.slice(2);
  return f;
}

/** Names are one TSV field and one whitespace-free word of `tests split` input. */
function cleanName(name: string): string {
  return name.replace(/[\t\r\n]+/g, ' ').trim();
}

export function encodeTimings(records: TimingRecord[]): string {
  const sorted = [...records].sort((a, b) => (a.type === b.type ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : TYPES.indexOf(a.type) - TYPES.indexOf(b.type)));
  return sorted.map((r) => `${r.type}\t${r.name}\t${formatSeconds(r.seconds)}\n`).join('');
}

/** Reads TSV timings; lines that are not `type<TAB>name<TAB>seconds` are skipped. */
export function decodeTimings(text: string): TimingRecord[] {
  const out: TimingRecord[] = [];
  for (const line of text.split('\n')) {
    const [type, name, seconds, ...rest] = line.split('\t');
    const n = Number(seconds);
    if (rest.length > 0 || !name || !TYPES.includes(type as TimingType) || seconds === '' || !Number.isFinite(n) || n < 0) continue;
    out.push({ type: type as TimingType, name, seconds: n });
  }
  return out;
}

/** Runs' timings, newest run first, as one set: each file, class or test keeps its newest time. */
export function mergeTimings(newestFirst: TimingRecord[][]): TimingRecord[] {
  const seen = new Map<string, TimingRecord>();
  for (const run of newestFirst) {
    for (const r of run) {
      const key = `${r.type}\t${r.name}`;
      if (!seen.has(key)) seen.set(key, r);
    }
  }
  return [...seen.values()];
}

function formatSeconds(s: number): string {
  return String(Math.round(s * 1000) / 1000);
}
