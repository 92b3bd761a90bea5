/**
 * JUnit XML as real tools write it, read into one flat list of test cases.
 *
 * There is no single JUnit schema: jest-junit, pytest (xunit1 and xunit2), mocha-junit-reporter,
 * go-junit-report, Maven Surefire and rspec_junit_formatter each write their own dialect. What
 * they share, and all this reads: a `<testsuites>` or `<testsuite>` root, suites that may nest,
 * `<testcase>` elements with `name`, `classname`, `time` (seconds) and sometimes `file`, and a
 * `<failure>`, `<error>` or `<skipped>` child. A `file` on a suite applies to its cases (mocha).
 * Anything else (properties, system-out, Surefire's flaky reruns) is tolerated and ignored.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export type CaseOutcome = 'passed' | 'failed' | 'error' | 'skipped';

export interface TestCaseResult {
  /** the innermost enclosing `<testsuite name>` ('' when unnamed) */
  suite: string;
  classname: string;
  name: string;
  /** the case's `file`, else its nearest suite's, as the tool wrote it */
  file?: string;
  /** seconds; undefined when absent or unreadable */
  time?: number;
  outcome: CaseOutcome;
  /** the failure, error or skip reason: its `message` attribute */
  message?: string;
  /** the failure, error or skip element's text (stack trace, assertion diff) */
  detail?: string;
}

export interface JunitReport {
  suites: number;
  cases: TestCaseResult[];
}

/** XML that is not well-formed, or not JUnit; `line`/`column` point into the file when known. */
export class JunitError extends Error {
  override name = 'JunitError';
  constructor(
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

const ATTR = '@_';
const TEXT = '#text';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: TEXT,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // &#10; in rspec's and pytest's message attributes, &apos; and friends
  htmlEntities: true,
  // DOCTYPE entity tricks (billion laughs) stay inert
  processEntities: true,
  isArray: (name) => ARRAYS.has(name),
});
const ARRAYS = new Set(['testsuites', 'testsuite', 'testcase', 'failure', 'error', 'skipped']);

type XmlNode = { [key: string]: unknown };

/** Parses one JUnit XML document. Throws JunitError when it is malformed or has no JUnit root. */
export function parseJunit(text: string): JunitReport {
  const xml = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new JunitError(valid.err.msg, valid.err.line, valid.err.col);
  const doc = parser.parse(xml) as XmlNode;
  const roots = Object.keys(doc).filter((k) => !k.startsWith('?') && !k.startsWith(ATTR) && k !== TEXT);
  if (!roots.includes('testsuites') && !roots.includes('testsuite')) {
    throw new JunitError(`not JUnit XML: the root element is <${roots[0] ?? 'none'}>, expected <testsuites> or <testsuite>`);
  }
  const report: JunitReport = { suites: 0, cases: [] };
  walk(doc, { suite: '' }, report);
  return report;
}

interface Inherited {
  suite: string;
  file?: string;
}

/** Collects the cases of every suite under `node`, however deeply suites nest. */
function walk(node: XmlNode, inherited: Inherited, report: JunitReport): void {
  for (const group of nodes(node.testsuites)) walk(group, inherited, report);
  for (const suite of nodes(node.testsuite)) {
    report.suites++;
    const here: Inherited = { suite: attr(suite, 'name') ?? inherited.suite, file: attr(suite, 'file') ?? inherited.file };
    walk(suite, here, report);
  }
  for (const c of nodes(node.testcase)) report.cases.push(testCase(c, inherited));
}

function testCase(c: XmlNode, inherited: Inherited): TestCaseResult {
  const result: TestCaseResult = {
    suite: inherited.suite,
    classname: attr(c, 'classname') ?? attr(c, 'class') ?? '',
    name: attr(c, 'name') ?? '(unnamed)',
    outcome: 'passed',
  };
  const file = attr(c, 'file') ?? inherited.file;
  if (file) result.file = file;
  const time = parseSeconds(attr(c, 'time'));
  if (time !== undefined) result.time = time;
  // a case with both is reported by its failure; Surefire's flakyFailure/rerunFailure alone means it passed on a rerun
  const [outcome, elements] = firstPresent(c, [
    ['failed', 'failure'],
    ['error', 'error'],
    ['skipped', 'skipped'],
  ]);
  if (outcome) {
    result.outcome = outcome;
    const message = elements.map((e) => attr(e, 'message')).filter((m): m is string => !!m).join('\n');
    const detail = elements.map(textOf).filter((t) => t.trim() !== '').join('\n');
    if (message) result.message = message;
    if (detail) result.detail = detail;
  }
  return result;
}

function firstPresent(c: XmlNode, kinds: Array<[CaseOutcome, string]>): [CaseOutcome | undefined, XmlNode[]] {
  for (const [outcome, tag] of kinds) {
    const found = c[tag];
    if (Array.isArray(found) && found.length > 0) return [outcome, found.map(asNode)];
  }
  return [undefined, []];
}

/**
 * A JUnit `time` in seconds. Tools differ: `1.5`, `0.0100`, `1e-3`, Surefire's English grouping
 * `1,234.567` (or `1,234`), and a decimal comma `0,5` from some locales. Negative, empty or
 * unreadable values are undefined.
 */
export function parseSeconds(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  let s = raw.trim();
  if (/^[1-9]\d{0,2}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  else if (/^\d+,\d+$/.test(s)) s = s.replace(',', '.');
  if (!/^\d*\.?\d+(e[-+]?\d+)?$/i.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function nodes(value: unknown): XmlNode[] {
  return Array.isArray(value) ? value.map(asNode) : [];
}

/** An element: `<skipped/>` parses to '' and a text-only element to its string. */
function asNode(value: unknown): XmlNode {
  if (value !== null && typeof value === 'object') return value as XmlNode;
  return typeof value === 'string' ? { [TEXT]: value } : {};
}

function attr(node: XmlNode, name: string): string | undefined {
  const v = node[ATTR + name];
  return typeof v === 'string' ? v : undefined;
}

function textOf(node: XmlNode): string {
  const t = node[TEXT];
  return typeof t === 'string' ? t : '';
}
