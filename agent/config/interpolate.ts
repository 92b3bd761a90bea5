/**
 * `<< … >>` interpolation. A string that is exactly one `<< x >>` takes the value's own type (so a
 * `steps` parameter splices a list and a boolean stays a boolean); otherwise values are rendered
 * into the string. Simple references (`parameters.x`, `pipeline.git.branch`, `matrix.os`) are
 * looked up directly; anything else is a CircleCI expression. `\<<` writes a literal `<<`.
 *
 * Text such as a shell heredoc (`cat <<EOF … >> file`) is left alone: only a `<< >>` that names
 * `parameters.`, `pipeline.` or `matrix.` on one line is an interpolation.
 */
import { configError, type SourcePos } from './diagnostics.js';
import { evaluateExpression, ExprError, type ExprValue } from './expr/index.js';
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
}

const MARKER = /(\\?)<<([^\n]*?)>>/g;
const ROOTS = /\b(parameters|pipeline|matrix)\./;
const SIMPLE = /^(parameters|pipeline|matrix)((?:\.[A-Za-z0-9_-]+)+)$/;

/** Substitutes every string in a value tree; returns a new tree (inputs are not modified). */
export function interpolate(v: Value, scope: InterpolationScope, pos?: SourcePos): Value {
  if (typeof v === 'string') return interpolateString(v, scope, pos);
  if (Array.isArray(v)) {
    const out = v.map((x, i) => interpolate(x, scope, valuePos(v, i) ?? pos));
    copyPos(v, out);
    return out;
  }
  if (isMapValue(v)) {
    const out: ValueMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = interpolate(x, scope, valuePos(v, k) ?? pos);
    copyPos(v, out);
    return out;
  }
  return v;
}

export function interpolateString(text: string, scope: InterpolationScope, pos?: SourcePos): Value {
  if (!text.includes('<<')) return text;
  const s = text.includes('<</') ? sections(text, scope, pos) : text;
  const whole = /^\s*<<([^\n]*?)>>\s*$/.exec(s);
  if (whole && ROOTS.test(whole[1]) && !s.trimStart().startsWith('\\')) {
    return resolve(whole[1].trim(), scope, pos);
  }
  return s.replace(MARKER, (match, escape: string, body: string) => {
    if (escape) return match.slice(1);
    if (!ROOTS.test(body)) return match;
    return render(resolve(body.trim(), scope, pos), body.trim(), pos);
  });
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

