/** Hand-written cases for the expression language, beyond the upstream corpus. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  evaluateAst,
  evaluateExpression,
  ExprError,
  isTruthy,
  parseExpression,
  type ExprEnvironment,
} from '../../../agent/config/expr/index.js';

const pipeline: ExprEnvironment = {
  pipeline: {
    number: 42,
    git: { branch: 'main', tag: null, revision: 'abc123' },
    parameters: { deploy: true, region: 'eu-west-1', retries: 0 },
  },
  'matrix.os': 'linux',
};

const ev = (src: string, env: ExprEnvironment = pipeline) => evaluateExpression(src, env);

function throwsExpr(src: string, want: { errorType: string; charPos: number; tokenType?: string; lexeme?: string }, env = pipeline): ExprError {
  let caught: unknown;
  try {
    ev(src, env);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ExprError, `${src}: expected an ExprError, got ${String(caught)}`);
  assert.equal(caught.errorType, want.errorType, src);
  assert.equal(caught.charPos, want.charPos, src);
  if ('tokenType' in want) assert.equal(caught.tokenType, want.tokenType, src);
  if ('lexeme' in want) assert.equal(caught.lexeme, want.lexeme, src);
  assert.doesNotMatch(caught.message, /\n/);
  return caught;
}

describe('names', () => {
  it('walks nested maps for dotted names', () => {
    assert.equal(ev('pipeline.git.branch'), 'main');
    assert.equal(ev('pipeline.parameters.region'), 'eu-west-1');
  });
  it('finds keys written with their dots, and mixes of both', () => {
    assert.equal(ev('matrix.os'), 'linux');
    assert.equal(ev('a.b.c', { 'a.b': { c: 1 } }), 1);
    assert.equal(ev('a.b.c', { a: { 'b.c': 2 } }), 2);
    // the exact key wins over a nested path
    assert.equal(ev('a.b', { 'a.b': 'flat', a: { b: 'nested' } }), 'flat');
  });
  it('treats null as undefined, including below a null container', () => {
    assert.equal(ev('pipeline.git.tag'), undefined);
    assert.equal(ev('pipeline.git.tag or "none"'), 'none');
    assert.equal(ev('x.y', { x: null }), undefined);
  });
  it('refuses unknown names with a suggestion', () => {
    const err = throwsExpr('pipeline.git.brnch == "main"', { errorType: 'Interpreter/UNKNOWN_VARIABLE', charPos: 0, lexeme: 'pipeline.git.brnch' });
    assert.match(err.message, /did you mean "pipeline\.git\.branch"/);
    throwsExpr('pipeline.nope', { errorType: 'Interpreter/UNKNOWN_VARIABLE', charPos: 0 });
  });
  it('allows digits, "_", "-" and "?" after the first letter', () => {
    assert.equal(ev('fo19-bar.baz_12', { 'fo19-bar': { baz_12: 'ok' } }), 'ok');
  });
});

describe('precedence and short-circuit values', () => {
  it('binds and tighter than or', () => {
    assert.equal(ev('true or false and false'), true);
    assert.equal(ev('(true or false) and false'), false);
  });
  it('binds not tighter than comparisons and equality', () => {
    assert.equal(ev('not false == true'), true); // (not false) == true
    assert.equal(ev('not (1 == 2)'), true);
  });
  it('binds comparisons tighter than equality', () => {
    assert.equal(ev('1 < 2 == true'), true);
    assert.equal(ev('2 > 1 != 3 > 4'), true);
  });
  it('returns the deciding operand, as in << pipeline.git.branch == "main" and 10 or 1 >>', () => {
    assert.equal(ev('pipeline.git.branch == "main" and 10 or 1'), 10);
    assert.equal(ev('pipeline.git.branch == "dev" and 10 or 1'), 1);
    assert.equal(ev('pipeline.parameters.retries or 3'), 0, '0 is truthy in expressions');
    assert.equal(ev('"" and "x"'), 'x', '"" is truthy in expressions');
  });
  it('does not evaluate the right side when the left decides', () => {
    assert.equal(ev('false and missing.name'), false);
    assert.equal(ev('true or missing.name'), true);
    assert.throws(() => ev('true and missing.name'), ExprError);
  });
  it('is left-associative', () => {
    assert.equal(ev('1 == 1 == true'), true);
    assert.throws(() => ev('1 < 2 < 3'), /expected a number on both sides of "<"/);
  });
  it('accepts AND / OR / NOT and ! as aliases', () => {
    assert.equal(ev('true AND NOT false'), true);
    assert.equal(ev('!false OR false'), true);
    assert.equal(ev('!!true'), true);
  });
});

describe('comparisons and equality', () => {
  it('compares numbers from the environment', () => {
    assert.equal(ev('pipeline.number >= 42'), true);
    assert.equal(ev('pipeline.number < 10'), false);
    assert.equal(ev('x > 1', { x: 1.5 }), true);
  });
  it('never converts types for ==', () => {
    assert.equal(ev('pipeline.number == "42"'), false);
    assert.equal(ev('pipeline.parameters.deploy == true'), true);
    assert.equal(ev('l == m', { l: [1, { a: 'b' }], m: [1, { a: 'b' }] }), true);
  });
  it('makes every comparison with an undefined value undefined', () => {
    for (const src of ['pipeline.git.tag == "v1"', 'pipeline.git.tag != "v1"', 'pipeline.git.tag > 1', 'pipeline.git.tag starts-with "v"', 'pipeline.git.tag matches /v.*/']) {
      assert.equal(ev(src), undefined, src);
      assert.equal(isTruthy(ev(src)), false, src);
    }
  });
  it('reports the operator when operands are not numbers', () => {
    const err = throwsExpr('5 > true', { errorType: 'Interpreter/EXPECTED_NUMERIC_OPERAND', charPos: 2, tokenType: 'GREATER', lexeme: '>' });
    assert.match(err.message, /^expected a number on both sides of ">" at character 2/);
  });
});

describe('starts-with', () => {
  it('tests string prefixes', () => {
    assert.equal(ev('pipeline.git.branch starts-with "ma"'), true);
    assert.equal(ev('pipeline.git.branch starts-with "feature/"'), false);
    assert.equal(ev('"" starts-with ""'), true);
  });
  it('needs strings on both sides', () => {
    throwsExpr('pipeline.number starts-with "4"', { errorType: 'Interpreter/EXPECTED_STRING_OPERAND', charPos: 16, tokenType: 'STARTS_WITH' });
  });
});

describe('matches', () => {
  it('matches the whole string', () => {
    assert.equal(ev('pipeline.git.branch matches /ma.n/'), true);
    assert.equal(ev('pipeline.git.branch matches /ma/'), false);
    assert.equal(ev('"release/1.2" matches /release\\/\\d+\\.\\d+/'), true);
    assert.equal(ev('"a|b" matches /a|b/'), false, 'alternatives are grouped before anchoring');
  });
  it('supports a leading (?i), escaped punctuation and POSIX classes', () => {
    assert.equal(ev('"MAIN" matches /(?i)main/'), true);
    assert.equal(ev('"a-b" matches /a\\-b/'), true);
    assert.equal(ev('"abc1" matches /[[:alpha:]]+[[:digit:]]/'), true);
  });
  it('needs a string on the left and a pattern on the right', () => {
    throwsExpr('5 matches /x/', { errorType: 'Interpreter/EXPECTED_STRING_OPERAND', charPos: 2, tokenType: 'MATCHES' });
    throwsExpr('"s" matches true', { errorType: 'Interpreter/EXPECTED_PATTERN_OPERAND', charPos: 4, tokenType: 'MATCHES' });
  });
  it('reports bad patterns while scanning', () => {
    throwsExpr('x matches /a(b/', { errorType: 'Scanner/INVALID_PATTERN', charPos: 10, lexeme: '/' });
    throwsExpr('x matches /unterminated', { errorType: 'Scanner/UNTERMINATED_PATTERN', charPos: 10, lexeme: '/' });
    throwsExpr('x matches /fo⏰/', { errorType: 'Scanner/INVALID_PATTERN_CHARACTER', charPos: 13, lexeme: '⏰' });
    throwsExpr('x matches /a(?=b)/', { errorType: 'Scanner/INVALID_PATTERN', charPos: 10 });
    throwsExpr(`x matches /${'x'.repeat(300)}/`, { errorType: 'Scanner/PATTERN_TOO_LONG', charPos: 10 });
  });
  it('only reads /…/ after matches', () => {
    const err = throwsExpr('/x/', { errorType: 'Scanner/UNEXPECTED_CHARACTER', charPos: 0, lexeme: '/' });
    assert.match(err.message, /can only follow "matches"/);
  });
});

describe('literals and scanning', () => {
  it('unescapes \\" and \\\\ in strings and keeps other backslashes', () => {
    assert.equal(ev('"say \\"hi\\" \\\\ \\n"'), 'say "hi" \\ \\n');
  });
  it('refuses numbers beyond the safe integer range', () => {
    throwsExpr('9007199254740993', { errorType: 'Scanner/INVALID_NUMERIC_LITERAL', charPos: 0 });
  });
  it('explains a single =', () => {
    const err = throwsExpr('a = b', { errorType: 'Scanner/INCOMPLETE_EQUALS', charPos: 3, lexeme: ' ' });
    assert.match(err.message, /write "=="/);
    throwsExpr('a =', { errorType: 'Scanner/INCOMPLETE_EQUALS', charPos: 2, lexeme: '=' });
  });
  it('refuses a trailing dot in a name', () => {
    throwsExpr('pipeline.', { errorType: 'Scanner/UNEXPECTED_CHARACTER', charPos: 8, lexeme: '.' });
  });
  it('reports a whole astral character, not half of it', () => {
    throwsExpr('a == 😀', { errorType: 'Scanner/UNEXPECTED_CHARACTER', charPos: 5, lexeme: '😀' });
  });
});

describe('parse errors', () => {
  it('says what was expected and where', () => {
    const err = throwsExpr('pipeline.number >', { errorType: 'Parser/EXPECTED_EXPRESSION', charPos: 17, tokenType: 'EOF', lexeme: '' });
    assert.match(err.message, /end of the expression/);
    throwsExpr('(a', { errorType: 'Parser/EXPECTED_RIGHT_PAREN', charPos: 2, tokenType: 'EOF' });
    throwsExpr('a b', { errorType: 'Parser/UNEXPECTED_ADDITIONAL_INPUT', charPos: 2, tokenType: 'IDENTIFIER' });
  });
  it('refuses absurd nesting instead of overflowing the stack', () => {
    throwsExpr(`${'('.repeat(1000)}1${')'.repeat(1000)}`, { errorType: 'Parser/TOO_DEEPLY_NESTED', charPos: 200 });
    throwsExpr('not '.repeat(300) + 'true', { errorType: 'Parser/TOO_DEEPLY_NESTED', charPos: 800 });
    assert.throws(() => parseExpression(Array(3000).fill('a').join(' and ')), (e: unknown) => e instanceof ExprError && e.errorType === 'Parser/TOO_LONG');
  });
  it('parses once and evaluates many times', () => {
    const ast = parseExpression('pipeline.git.branch == "main"');
    assert.equal(evaluateAst(ast, pipeline), true);
    assert.equal(evaluateAst(ast, { pipeline: { git: { branch: 'dev' } } }), false);
  });
});

describe('isTruthy', () => {
  it('is false only for false, null and undefined', () => {
    for (const v of [false, null, undefined]) assert.equal(isTruthy(v), false);
    for (const v of [true, 0, '', [], {}, 'false']) assert.equal(isTruthy(v), true);
  });
});
