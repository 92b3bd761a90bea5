/**
 * CircleCI's expression language: the text inside `<< … >>`, job `filters:` written as an
 * expression, and workflow `when:` strings. Parse once at validation time (parseExpression) to
 * refuse bad expressions with a position; evaluate when pipeline values are known.
 */
import { interpret, type ExprEnvironment, type ExprValue } from './interpreter.js';
import { parse, type ExprAst } from './parser.js';

export { ExprError } from './error.js';
export { isTruthy } from './interpreter.js';
export type { ExprEnvironment, ExprValue } from './interpreter.js';
export type { ExprAst } from './parser.js';

/** Parses `src`; throws ExprError (Scanner/… or Parser/…) when it is not a valid expression. */
export function parseExpression(src: string): ExprAst {
  return parse(src);
}

/**
 * Evaluates `src` against `env`. The result is an operand's value (`and`/`or` return operands),
 * a boolean, or `undefined` when the outcome depends on a null value. Throws ExprError.
 */
export function evaluateExpression(src: string, env: ExprEnvironment): ExprValue {
  return interpret(parse(src), env);
}

/** Evaluates an already parsed expression (e.g. one parsed at validation time). */
export function evaluateAst(ast: ExprAst, env: ExprEnvironment): ExprValue {
  return interpret(ast, env);
}
