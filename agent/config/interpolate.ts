/**
 * `<< … >>` interpolation. A string that is exactly one `<< x >>` takes the value's own type (so a
 * `steps` parameter splices a list and a boolean stays a boolean); otherwise values are rendered
 * into the string. Simple references (`parameters.x`, `pipeline.git.branch`, `matrix.os`) are
 * looked up directly; anything else is a CircleCI expression. `\<<` writes a literal `<<`.
 *
 * Text such as a shell heredoc (`cat <<EOF … >> file`) is left alone: only a `<< >>` that names
 * `parameters.`, `pipeline.` or `matrix.` on one line is an interpolation. A string that starts
 * with `<<` and ends with `>>` is one value only when nothing between holds another `<<` or `>>`:
 * `<<parameters.image>>:<<parameters.tag>>` is two interpolations in a string.
 *
 * `<<include(file)>>` belongs to orb source trees and is replaced when an orb is packed; one left
 * in a config or a stored orb is an error here rather than text that reaches a shell.
 */
import { configError, type SourcePos } from './diagnostics.js';
import { evaluateExpression, ExprError, type ExprValue } from './expr/index.js';
import { executorRefName } from './executor-refs.js';
import { unresolvedInclude } from './includes.js';
import type { ExpansionBudget } from './limits.js';
import { copyPos, isMapValue, valuePos, type Value, type ValueMap } from './source.js';
import { didYouMean } from './suggest.js';

/** What `<< >>` may refer to at one place in the config. */
export interface InterpolationScope {
  pipeline: ValueMap;
  /** bound parameters of the job, command or executor being expanded */
  parameters?: Map<string, Value>;
  /** who owns `parameters` (for messages), e.g. `command "install"` */
  owner?: string;
  matrix?: Map<string, Value>;
  /** counts the characters substitutions write (limits.ts), so that doubling strings stop early */
  budget?: ExpansionBudget;
}

/** `\<<` (an escaped, literal `<<`, with or without a `>>` after it) or one `<< … >>` on a line */
const MARKER = /\\<<|<<([^\n]*?)>>/g;
/** the whole string is one `<< … >>` (nothing inside opens or closes another) */
const WHOLE = /^\s*<<((?:(?!<<|>>)[^\n])*)>>\s*$/;
const INCLUDE = /^\s*include\(/;
const ROOTS = /\b(parameters|pipeline|matrix)\./;
const SIMPLE = /^(parameters|pipeline|matrix)((?:\.[A-Za-z0-9_-]+)+)$/;

/**
 * Substitutes every string in a value tree. Inputs are never modified; a map or list that holds
 * nothing to substitute comes back as it is (shared, not copied), so callers copy before editing.
 * Copying only what changes is what keeps a config of hundreds of jobs quick to compile.
 */
export function interpolate(v: Value, scope: InterpolationScope, pos?: SourcePos): Value {
  if (typeof v === 'string') return v.includes('<<') ? interpolateString(v, scope, pos) : v;
  if (Array.isArray(v)) {
    let out: Value[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      const y = interpolateItem(v, i, x, scope, pos);
      if (y !== x && out === undefined) out = v.slice(0, i);
      if (out !== undefined) out.push(y);
    }
    if (out === undefined) return v;
    copyPos(v, out);
    return out;
  }
  if (isMapValue(v)) {
    let out: ValueMap | undefined;
    for (const k in v) {
      const x = v[k];
      const y = interpolateItem(v, k, x, scope, pos);
      if (y !== x && out === undefined) out = { ...v };
      if (out !== undefined) out[k] = y;
    }
    if (out === undefined) return v;
    copyPos(v, out);
    return out;
  }
  return v;
}

/** One item; its position is looked up only when a string has something to substitute. */
function interpolateItem(container: Value[] | ValueMap, key: string | number, x: Value, scope: InterpolationScope, pos: SourcePos | undefined): Value {
  if (typeof x === 'string') return x.includes('<<') ? interpolateString(x, scope, valuePos(container, key) ?? pos) : x;
  if (typeof x === 'object' && x !== null) return interpolate(x, scope, pos);
  return x;
}

export function interpolateString(text: string, scope: InterpolationScope, pos?: SourcePos): Value {
  if (!text.includes('<<')) return text;
  const s = text.includes('<</') ? sections(text, scope, pos) : text;
  const whole = WHOLE.exec(s);
  if (whole && ROOTS.test(whole[1])) {
    const v = resolve(whole[1].trim(), scope, pos);
    // a value handed on as it is costs nothing; one an expression built is counted
    if (typeof v === 'string' && scope.budget && !SIMPLE.test(whole[1].trim())) scope.budget.addChars(v.length, pos);
    return v;
  }
  let written = 0;
  const out = s.replace(MARKER, (match, body: string | undefined) => {
    if (body === undefined) return '<<';
    if (INCLUDE.test(body)) throw unresolvedInclude(body, pos);
    if (!ROOTS.test(body)) return match;
    const piece = render(resolve(body.trim(), scope, pos), body.trim(), pos);
    written += piece.length;
    // counted while the string is written, so that one doubled at every call stops near the limit
    if (scope.budget && written > 65536) {
      scope.budget.addChars(written, pos);
      written = 0;
    }
    return piece;
  });
  if (scope.budget && written > 0) scope.budget.addChars(written, pos);
  return out;
}

/**
 * Mustache-style sections CircleCI accepts: `<<# x >>text<</ x >>` keeps text when x is truthy
 * (true, a non-empty string, a non-zero number), `<<^ x >>text<</ x >>` when it is not.
 */
const SECTION = /<<([#^])\s*((?:parameters|pipeline|matrix)(?:\.[A-Za-z0-9_-]+)+)\s*>>([\s\S]*?)<<\/\s*\2\s*>>/g;

function sections(s: string, scope: InterpolationScope, pos?: SourcePos): string {
  return s.replace(SECTION, (_m, kind: string, ref: string, inner: string) => {
    const [root, ...path] = ref.split('.');
    const v = lookup(root, path, scope, pos);
    const truthy = v !== null && v !== false && v !== '' && v !== 0;
    return truthy === (kind === '#') ? inner : '';
  });
}

function resolve(body: string, scope: InterpolationScope, pos?: SourcePos): Value {
  const simple = SIMPLE.exec(body);
  if (simple) return lookup(simple[1], simple[2].slice(1).split('.'), scope, pos);
  try {
    return fromExpr(evaluateExpression(body, exprEnvironment(scope)));
  } catch (err) {
    if (err instanceof ExprError) throw configError(pos, `in << ${body} >>: ${err.message}`);
    throw err;
  }
}

function lookup(root: string, path: string[], scope: InterpolationScope, pos?: SourcePos): Value {
  if (root === 'parameters') {
    if (!scope.parameters) {
      throw configError(pos, `<< parameters.${path.join('.')} >> is used outside a job, command or executor, where there are no parameters`);
    }
    const name = path[0];
    if (!scope.parameters.has(name)) {
      throw configError(
        pos,
        `${scope.owner ?? 'this element'} has no parameter "${name}"${didYouMean(name, scope.parameters.keys())}; declare it under parameters: or fix the name`,
      );
    }
    return dig(scope.parameters.get(name) ?? null, path.slice(1), `parameters.${path.join('.')}`, pos);
  }
  if (root === 'matrix') {
    if (!scope.matrix) throw configError(pos, `<< matrix.${path.join('.')} >> is only available in a workflow job that has a matrix`);
    const name = path[0];
    if (!scope.matrix.has(name)) throw configError(pos, `the matrix has no parameter "${name}"${didYouMean(name, scope.matrix.keys())}`);
    return scope.matrix.get(name) ?? null;
  }
  return dig(scope.pipeline, path, 'pipeline', pos, true);
}

function dig(v: Value, path: string[], label: string, pos: SourcePos | undefined, strict = false): Value {
  let cur: Value = v;
  let seen = label;
  for (const part of path) {
    if (!isMapValue(cur) || !(part in cur)) {
      if (!strict) throw configError(pos, `cannot read "${part}" of ${seen}`);
      const known = isMapValue(cur) ? Object.keys(cur) : [];
      throw configError(pos, `unknown pipeline value ${seen}.${part}${didYouMean(part, known)}`);
    }
    cur = cur[part];
    seen = `${seen}.${part}`;
  }
  return cur;
}

function render(v: Value, body: string, pos?: SourcePos): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const executorName = executorRefName(v);
  if (executorName !== undefined) return executorName;
  throw configError(pos, `<< ${body} >> is ${Array.isArray(v) ? 'a list' : 'a map'} and cannot be written inside a string; use it as the whole value`);
}

function exprEnvironment(scope: InterpolationScope): { [k: string]: ExprValue } {
  const env: { [k: string]: ExprValue } = { pipeline: scope.pipeline as ExprValue };
  if (scope.parameters) env.parameters = Object.fromEntries(scope.parameters) as { [k: string]: ExprValue };
  if (scope.matrix) env.matrix = Object.fromEntries(scope.matrix) as { [k: string]: ExprValue };
  return env;
}

function fromExpr(v: ExprValue): Value {
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(fromExpr);
  if (typeof v === 'object' && v !== null) {
    const out: ValueMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromExpr(x);
    return out;
  }
  return v;
}

