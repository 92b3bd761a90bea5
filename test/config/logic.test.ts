/** Logic statements (`when`/`unless` conditions), read from real YAML so positions are checked too. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { evaluateLogicStatement, isLogicTruthy, MAX_LOGIC_DEPTH } from '../../agent/config/logic.js';
import { isMapValue, loadYaml, type Value } from '../../agent/config/source.js';

/** The `condition:` of a one-key YAML document, with its position. */
function condition(yaml: string): Value {
  const doc = loadYaml(yaml, { file: 'config.yml' });
  assert.ok(isMapValue(doc));
  return doc.condition;
}

const where = { file: 'config.yml', line: 1, col: 12 };

function evalYaml(yaml: string): boolean {
  return evaluateLogicStatement(condition(yaml), where);
}

function failsAt(yaml: string, line: number, col: number, message: RegExp): void {
  assert.throws(
    () => evalYaml(yaml),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.equal(err.diagnostics.length, 1);
      const d = err.diagnostics[0];
      assert.deepEqual(d.pos && { line: d.pos.line, col: d.pos.col }, { line, col }, err.message);
      assert.match(d.message, message);
      assert.doesNotMatch(d.message, /\n/);
      return true;
    },
  );
}

describe('literal truthiness', () => {
  it('is false for false, null, 0, NaN, "" and empty lists and maps', () => {
    for (const v of [false, null, 0, Number.NaN, '', [], {}]) assert.equal(isLogicTruthy(v), false, JSON.stringify(v));
    for (const v of [true, 1, -1, 'false', '0', ' ', [0], { a: 1 }]) assert.equal(isLogicTruthy(v), true, JSON.stringify(v));
  });
  it('evaluates scalars after interpolation', () => {
    assert.equal(evalYaml('condition: true'), true);
    assert.equal(evalYaml('condition: 0'), false);
    assert.equal(evalYaml('condition: ""'), false);
    assert.equal(evalYaml('condition:'), false);
    assert.equal(evalYaml('condition: .nan'), false);
    assert.equal(evalYaml('condition: main'), true);
    // YAML 1.1 words are strings by now and therefore truthy
    assert.equal(evalYaml('condition: "no"'), true);
  });
});

describe('operators', () => {
  it('and / or / not', () => {
    assert.equal(evalYaml('condition: {and: [true, 1, "x"]}'), true);
    assert.equal(evalYaml('condition: {and: [true, 0]}'), false);
    assert.equal(evalYaml('condition: {or: [false, "", 3]}'), true);
    assert.equal(evalYaml('condition: {or: [false, null]}'), false);
    assert.equal(evalYaml('condition: {not: false}'), true);
    assert.equal(evalYaml('condition: {not: {equal: [a, a]}}'), false);
  });
  it('equal compares deeply and strictly by type', () => {
    assert.equal(evalYaml('condition: {equal: [main, main, main]}'), true);
    assert.equal(evalYaml('condition: {equal: [main, dev]}'), false);
    assert.equal(evalYaml('condition: {equal: [1, "1"]}'), false);
    assert.equal(evalYaml('condition: {equal: [[1, {a: b}], [1, {a: b}]]}'), true);
    assert.equal(evalYaml('condition: {equal: [{a: 1}, {a: 1, b: 2}]}'), false);
    assert.equal(evalYaml('condition: {equal: [only]}'), true);
  });
  it('equal takes values, not statements: a map that looks like an operator is compared, not evaluated', () => {
    assert.equal(evalYaml('condition: {equal: [{and: [1]}, {and: [1]}]}'), true);
    assert.equal(evalYaml('condition: {equal: [{not: x}, {not: y}]}'), false);
    assert.equal(evalYaml('condition: {equal: [{macos: {xcode: 14.2.0}}, {macos: {xcode: 14.2.0}}]}'), true);
  });
  it('equal compares what an item stands for when told (an executor parameter stands for its executor)', () => {
    const stmt = condition('condition: {equal: [{docker: [{image: x}]}, exec-ref]}');
    assert.equal(evaluateLogicStatement(stmt, where), false);
    assert.equal(evaluateLogicStatement(stmt, where, { equalValue: (v) => (v === 'exec-ref' ? { docker: [{ image: 'x' }] } : v) }), true);
  });
  it('matches uses Java regular expressions against the whole string', () => {
    const m = (pattern: string, value: string) =>
      evaluateLogicStatement({ matches: { pattern, value } }, where);
    assert.equal(m('^main$', 'main'), true);
    assert.equal(m('feature/.*', 'feature/x'), true);
    assert.equal(m('feature', 'feature/x'), false, 'a partial match is not a match');
    assert.equal(m('a|b', 'ab'), false);
    assert.equal(m('(?i)MAIN', 'main'), true);
    assert.equal(m('\\Arelease-\\d+\\z', 'release-12'), true);
    assert.equal(m('\\Qa.b\\E', 'a.b'), true);
    assert.equal(m('\\Qa.b\\E', 'axb'), false);
    assert.equal(m('a\\++', 'a++'), true, 'an escaped + followed by a quantifier is not possessive');
    assert.equal(m('[\\w\\-]+', 'a-b_c'), true, 'escaped punctuation works inside classes');
    assert.equal(m('[]a]+', ']a'), true, 'a leading ] in a class is literal');
    assert.equal(evaluateLogicStatement({ matches: { pattern: '\\d+', value: 42 } }, where), true);
    assert.equal(evaluateLogicStatement({ matches: { pattern: '.*', value: null } }, where), true);
  });
  it('evaluates nested statements from YAML', () => {
    const yaml = [
      'condition:',
      '  and:',
      '    - not:',
      '        matches: {pattern: "^docs/.*", value: feature/x}',
      '    - or:',
      '        - equal: [main, feature/x]',
      '        - true',
    ].join('\n');
    assert.equal(evalYaml(yaml), true);
  });
  it('checks every branch, even ones that do not change the answer', () => {
    failsAt('condition:\n  or:\n    - true\n    - {bogus: 1}\n', 4, 8, /unknown logic operator "bogus"/);
  });
});

describe('errors', () => {
  it('refuses empty and/or/equal lists', () => {
    failsAt('condition:\n  and: []\n', 2, 8, /"and" needs at least one item/);
    failsAt('condition:\n  or: []\n', 2, 7, /"or" needs at least one item/);
    failsAt('condition: {equal: []}', 1, 20, /"equal" needs at least one item/);
  });
  it('refuses non-list arguments', () => {
    failsAt('condition:\n  and: true\n', 2, 8, /"and" takes a list of logic statements, not a boolean/);
    failsAt('condition:\n  equal: main\n', 2, 10, /"equal" takes a list/);
  });
  it('suggests the operator that was meant', () => {
    failsAt('condition:\n  nto: true\n', 2, 3, /unknown logic operator "nto" \(did you mean "not"\?\)/);
  });
  it('refuses two operators in one map', () => {
    failsAt('condition:\n  and: [true]\n  or: [true]\n', 2, 3, /exactly one operator/);
  });
  it('checks matches', () => {
    failsAt('condition:\n  matches: {pattern: "(", value: x}\n', 2, 22, /pattern "\(" is not usable/);
    failsAt('condition:\n  matches: {pattern: 1, value: x}\n', 2, 22, /pattern must be a string/);
    failsAt('condition:\n  matches: {pattern: x}\n', 2, 12, /needs both "pattern" and "value" \(missing "value"\)/);
    failsAt('condition:\n  matches: {pattern: x, valeu: y}\n', 2, 25, /no key "valeu" \(did you mean "value"\?\)/);
    failsAt('condition:\n  matches: {pattern: x, value: [y]}\n', 2, 32, /value must be a string, not a list/);
    failsAt('condition:\n  matches: main\n', 2, 12, /takes a map with "pattern" and "value"/);
    failsAt('condition:\n  matches: {pattern: "a++", value: x}\n', 2, 22, /possessive quantifiers .* are not supported/);
    failsAt('condition:\n  matches: {pattern: "[a-z&&[^b]]", value: x}\n', 2, 22, /intersection/);
  });
  it('uses the caller position for a scalar statement', () => {
    assert.throws(
      () => evaluateLogicStatement({ and: [] }, where),
      (err: unknown) => err instanceof ConfigError && err.diagnostics[0].pos === where,
    );
  });
  it(`refuses nesting deeper than ${MAX_LOGIC_DEPTH}`, () => {
    let ok: Value = true;
    for (let i = 1; i < MAX_LOGIC_DEPTH; i++) ok = { not: ok };
    assert.equal(evaluateLogicStatement(ok, where), MAX_LOGIC_DEPTH % 2 === 1);
    assert.throws(() => evaluateLogicStatement({ not: ok }, where), /nested more than 100 levels/);
  });
});
