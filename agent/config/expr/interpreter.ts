/**
 * Evaluates a parsed expression against an environment of pipeline values, parameters and matrix
 * values. Semantics follow CircleCI-Public/expr:
 *   - `and`/`or` short-circuit and return one of their operands (not a boolean);
 *   - a name that is present but null is *undefined*: comparisons with it are undefined, and it
 *     counts as false where truthiness is needed (`foo or 12` → 12);
 *   - a name that is absent altogether is an error;
 *   - `==`/`!=` never convert types (`5 == "5"` is false); `>` `>=` `<` `<=` need numbers;
 *     `starts-with` needs strings; `matches` needs a string and a /pattern/.
 */
import { didYouMean } from '../suggest.js';
import { ExprError } from './error.js';
import type { ExprAst } from './parser.js';

/** What an expression can produce or read. `undefined` is expr's "declared but not defined". */
export type ExprValue = string | number | boolean | null | undefined | ExprValue[] | { [key: string]: ExprValue };

/**
 * Names visible to an expression. A dotted name such as `pipeline.git.branch` is found either as a
 * key written with its dots (`{"pipeline.git.branch": "main"}`), by walking nested maps
 * (`{pipeline: {git: {branch: "main"}}}`), or any mix of the two; a key spelled exactly as the
 * whole name wins.
 */
export interface ExprEnvironment {
  [name: string]: ExprValue;
}

/** Only `false` and undefined/null are false; `0` and `""` are true (unlike logic statements). */
export function isTruthy(v: ExprValue): boolean {
  return v !== false && v !== null && v !== undefined;
}

/** Values the evaluator passes around: ExprValues, plus the /pattern/ operand of `matches`. */
type Operand = ExprValue | RegExp;

const OPERATOR_TEXT: Record<string, string> = {
  GREATER: '>',
  GREATER_EQUAL: '>=',
  LESS: '<',
  LESS_EQUAL: '<=',
};

export function interpret(ast: ExprAst, env: ExprEnvironment): ExprValue {
  const v = evaluate(ast, env);
  // a bare pattern cannot be the whole expression (the scanner only allows one after `matches`)
  return v instanceof RegExp ? String(v) : v;
}

function evaluate(node: ExprAst, env: ExprEnvironment): Operand {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'pattern':
      return node.regex;
    case 'variable':
      return lookup(node.name, env, node.token.pos);
    case 'not':
      return !isTruthy(asValue(evaluate(node.operand, env)));
    case 'logical': {
      const left = evaluate(node.left, env);
      const leftTrue = isTruthy(asValue(left));
      if (node.op === 'AND' ? !leftTrue : leftTrue) return left;
      return evaluate(node.right, env);
    }
    case 'binary': {
      const left = evaluate(node.left, env);
      const right = evaluate(node.right, env);
      const { token } = node;
      switch (node.op) {
        case 'EQUAL_EQUAL':
        case 'BANG_EQUAL': {
          if (isUndefined(left) || isUndefined(right)) return undefined;
          const same = deepEqual(left, right);
          return node.op === 'EQUAL_EQUAL' ? same : !same;
        }
        case 'GREATER':
        case 'GREATER_EQUAL':
        case 'LESS':
        case 'LESS_EQUAL': {
          if (isUndefined(left) || isUndefined(right)) return undefined;
          if (typeof left !== 'number' || typeof right !== 'number') {
            throw new ExprError(
              { errorType: 'Interpreter/EXPECTED_NUMERIC_OPERAND', tokenType: token.type, lexeme: token.lexeme, charPos: token.pos },
              `expected a number on both sides of "${OPERATOR_TEXT[node.op]}" at character ${token.pos} (got ${describe(left)} and ${describe(right)})`,
            );
          }
          if (node.op === 'GREATER') return left > right;
          if (node.op === 'GREATER_EQUAL') return left >= right;
          if (node.op === 'LESS') return left < right;
          return left <= right;
        }
        case 'STARTS_WITH': {
          if (isUndefined(left) || isUndefined(right)) return undefined;
          if (typeof left !== 'string' || typeof right !== 'string') {
            throw new ExprError(
              { errorType: 'Interpreter/EXPECTED_STRING_OPERAND', tokenType: token.type, lexeme: token.lexeme, charPos: token.pos },
              `expected a string on both sides of "starts-with" at character ${token.pos} (got ${describe(left)} and ${describe(right)})`,
            );
          }
          return left.startsWith(right);
        }
        case 'MATCHES': {
          if (!(right instanceof RegExp)) {
            throw new ExprError(
              { errorType: 'Interpreter/EXPECTED_PATTERN_OPERAND', tokenType: token.type, lexeme: token.lexeme, charPos: token.pos },
              `expected a /pattern/ on the right of "matches" at character ${token.pos} (got ${describe(right)})`,
            );
          }
          if (isUndefined(left)) return undefined;
          if (typeof left !== 'string') {
            throw new ExprError(
              { errorType: 'Interpreter/EXPECTED_STRING_OPERAND', tokenType: token.type, lexeme: token.lexeme, charPos: token.pos },
              `expected a string on the left of "matches" at character ${token.pos} (got ${describe(left)})`,
            );
          }
          return right.test(left);
        }
      }
    }
  }
}

function isUndefined(v: Operand): boolean {
  return v === undefined || v === null;
}

function asValue(v: Operand): ExprValue {
  return v instanceof RegExp ? true : v;
}

const NOT_FOUND = Symbol('not found');

function lookup(name: string, env: ExprEnvironment, pos: number): ExprValue {
  const found = find(env, name.split('.'), 0);
  if (found === NOT_FOUND) {
    throw new ExprError(
      { errorType: 'Interpreter/UNKNOWN_VARIABLE', tokenType: 'IDENTIFIER', lexeme: name, charPos: pos },
      `unknown name "${name}" at character ${pos}${didYouMean(name, knownNames(env))}`,
    );
  }
  return found === null ? undefined : found;
}

/** Finds segments[from…] in `scope`, trying the longest dotted key first at each level. */
function find(scope: { [key: string]: ExprValue }, segments: string[], from: number): ExprValue | typeof NOT_FOUND {
  for (let to = segments.length; to > from; to--) {
    const key = segments.slice(from, to).join('.');
    if (!Object.prototype.hasOwnProperty.call(scope, key)) continue;
    const v = scope[key];
    if (to === segments.length) return v;
    // a declared-but-undefined container has undefined fields
    if (v === null || v === undefined) return undefined;
    if (typeof v === 'object' && !Array.isArray(v)) {
      const inner = find(v, segments, to);
      if (inner !== NOT_FOUND) return inner;
    }
  }
  return NOT_FOUND;
}

/** Dotted names an environment defines, for "did you mean" (bounded: environments can be large). */
function knownNames(env: ExprEnvironment): string[] {
  const out: string[] = [];
  const walk = (scope: { [key: string]: ExprValue }, prefix: string, depth: number): void => {
    for (const [k, v] of Object.entries(scope)) {
      if (out.length >= 2000) return;
      const name = prefix + k;
      out.push(name);
      if (v && typeof v === 'object' && !Array.isArray(v) && depth < 8) walk(v, `${name}.`, depth + 1);
    }
  };
  walk(env, '', 0);
  return out;
}

function deepEqual(a: Operand, b: Operand): boolean {
  if (a instanceof RegExp || b instanceof RegExp) return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags;
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ma = a as { [k: string]: ExprValue };
  const mb = b as { [k: string]: ExprValue };
  const ka = Object.keys(ma);
  return ka.length === Object.keys(mb).length && ka.every((k) => Object.prototype.hasOwnProperty.call(mb, k) && deepEqual(ma[k], mb[k]));
}

function describe(v: Operand): string {
  if (v instanceof RegExp) return 'a pattern';
  if (v === undefined || v === null) return 'an undefined value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return `the boolean ${v}`;
}
