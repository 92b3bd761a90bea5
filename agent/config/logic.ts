/**
 * CircleCI logic statements: the `condition` of `when`/`unless` steps and the map form of workflow
 * `when`/`unless`. Values arrive after `<< >>` interpolation, so they are plain typed values.
 *
 *   literal            truthy unless false, null, 0, NaN, "" or an empty list/map
 *   and: [s, …]        all true (a non-empty list)
 *   or: [s, …]         any true (a non-empty list)
 *   not: s             negation
 *   equal: [v, …]      all values deeply equal, types included (a non-empty list); the items are
 *                      values, not statements: maps, lists and scalars compare as they are
 *   matches: {pattern, value}   Java regular expression matching the WHOLE string
 *
 * Every sub-statement is checked even when the answer is already known, so a mistake in a branch
 * that happens not to matter today is still reported.
 */
import { configError } from './diagnostics.js';
import type { SourcePos } from './diagnostics.js';
import { compileWholeMatch, PatternProblem } from './expr/pattern.js';
import { describeType, isMapValue, keyPos, posOf, valuePos, type Value, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

/** Statements nested deeper than this are refused (as CircleCI does). */
export const MAX_LOGIC_DEPTH = 100;

const OPERATORS = ['and', 'or', 'not', 'equal', 'matches'] as const;
type Operator = (typeof OPERATORS)[number];

/** Truthiness of a literal in a logic statement. */
export function isLogicTruthy(v: Value): boolean {
  if (v === false || v === null || v === 0 || v === '') return false;
  if (typeof v === 'number' && Number.isNaN(v)) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMapValue(v)) return Object.keys(v).length > 0;
  return true;
}

export interface LogicOptions {
  /**
   * What an `equal` item stands for, when that is not the value itself: an `executor` parameter
   * stands for the executor it names, so that it equals that executor's definition.
   */
  equalValue?: (v: Value) => Value;
}

/**
 * Evaluates `statement`; `where` is its position (needed for scalars, which carry none of their
 * own). Throws ConfigError naming the offending sub-statement's position.
 */
export function evaluateLogicStatement(statement: Value, where: SourcePos | undefined, opts: LogicOptions = {}): boolean {
  return evaluate(statement, posOf(statement) ?? where, 1, opts);
}

function evaluate(stmt: Value, pos: SourcePos | undefined, depth: number, opts: LogicOptions): boolean {
  if (depth > MAX_LOGIC_DEPTH) {
    throw configError(pos, `logic statement nested more than ${MAX_LOGIC_DEPTH} levels deep; flatten it with and/or lists`);
  }
  if (!isMapValue(stmt) || Object.keys(stmt).length === 0) return isLogicTruthy(stmt);
  const keys = Object.keys(stmt);
  const op = keys.find((k): k is Operator => (OPERATORS as readonly string[]).includes(k));
  if (keys.length !== 1 || op === undefined) {
    const stray = keys.find((k) => !(OPERATORS as readonly string[]).includes(k));
    if (stray !== undefined) {
      throw configError(
        keyPos(stmt, stray) ?? pos,
        `unknown logic operator "${stray}"${didYouMean(stray, OPERATORS)}; use one of ${OPERATORS.join(', ')}`,
      );
    }
    throw configError(pos, `a logic statement has exactly one operator, but this one has ${keys.join(', ')}; combine them with "and" or "or"`);
  }
  const arg = stmt[op];
  const argPos = valuePos(stmt, op) ?? pos;
  switch (op) {
    case 'and':
    case 'or': {
      const items = nonEmptyList(op, arg, argPos, 'logic statements');
      const results = items.map((item, i) => evaluate(item, valuePos(items, i) ?? argPos, depth + 1, opts));
      return op === 'and' ? results.every(Boolean) : results.some(Boolean);
    }
    case 'not':
      return !evaluate(arg, argPos, depth + 1, opts);
    case 'equal': {
      const items = nonEmptyList(op, arg, argPos, 'values to compare').map((item) => (opts.equalValue ? opts.equalValue(item) : item));
      return items.every((item) => deepEqual(item, items[0]));
    }
    case 'matches':
      return matches(arg, argPos);
  }
}

function nonEmptyList(op: Operator, arg: Value, pos: SourcePos | undefined, what: string): Value[] {
  if (!Array.isArray(arg)) {
    throw configError(pos, `"${op}" takes a list of ${what}, not ${describeType(arg)}`);
  }
  if (arg.length === 0) {
    throw configError(pos, `"${op}" needs at least one item; an empty list has no meaning here`);
  }
  return arg;
}

function matches(arg: Value, pos: SourcePos | undefined): boolean {
  if (!isMapValue(arg)) {
    throw configError(pos, `"matches" takes a map with "pattern" and "value", not ${describeType(arg)}`);
  }
  for (const k of Object.keys(arg)) {
    if (k !== 'pattern' && k !== 'value') {
      throw configError(keyPos(arg, k) ?? pos, `"matches" has no key "${k}"${didYouMean(k, ['pattern', 'value'])}; it takes "pattern" and "value"`);
    }
  }
  if (!('pattern' in arg) || !('value' in arg)) {
    throw configError(pos, `"matches" needs both "pattern" and "value" (missing "${'pattern' in arg ? 'value' : 'pattern'}")`);
  }
  const pattern = arg.pattern;
  const patternPos = valuePos(arg, 'pattern') ?? pos;
  if (typeof pattern !== 'string') {
    throw configError(patternPos, `"matches" pattern must be a string (a Java regular expression), not ${describeType(pattern)}`);
  }
  const value = matchSubject(arg, pos);
  let regex: RegExp;
  try {
    regex = compileWholeMatch(pattern, 'java');
  } catch (err) {
    if (!(err instanceof PatternProblem)) throw err;
    throw configError(patternPos, `"matches" pattern ${JSON.stringify(pattern)} is not usable: ${err.message}`);
  }
  return regex.test(value);
}

/** The string `matches` tests: scalars count as their text; an empty pipeline value (null) as "". */
function matchSubject(arg: ValueMap, pos: SourcePos | undefined): string {
  const v = arg.value;
  if (typeof v === 'string') return v;
  if (v === null) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw configError(valuePos(arg, 'value') ?? pos, `"matches" value must be a string, not ${describeType(v)}`);
}

function deepEqual(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isMapValue(a) && isMapValue(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}
