/**
 * Runs every vector of the CircleCI-Public/expr conformance corpus (the test corpus's `expr/`:
 * third-party data, never copied into the repository; see test/support/corpus.ts).
 * evaluator-corpus.edn checks the value an expression evaluates to; test-corpus.edn checks
 * its truthiness. Error vectors check errorType, tokenType (absent for scanner errors), lexeme and
 * charPos.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { evaluateExpression, ExprError, isTruthy, type ExprEnvironment, type ExprValue } from '../../../agent/config/expr/index.js';
import { EdnKeyword, EdnTagged, kw, readEdnAll, type EdnValue } from '../../support/edn.js';
import { corpusPath, corpusSkip } from '../../support/corpus.js';

interface Vector {
  group: string;
  index: number;
  expression: string;
  env: ExprEnvironment;
  expected: EdnValue;
}

function loadVectors(file: string): Vector[] {
  const forms = readEdnAll(readFileSync(corpusPath('expr', file), 'utf8'));
  const out: Vector[] = [];
  for (const form of forms) {
    assert.ok(form instanceof Map, `${file}: top-level forms are maps`);
    const name = form.get(kw('name'));
    const group = Array.isArray(name) ? name.join('/') : String(name);
    const tests = form.get(kw('tests'));
    assert.ok(Array.isArray(tests) && tests.length % 3 === 0, `${file} ${group}: :tests is a vector of triples`);
    for (let i = 0; i < tests.length; i += 3) {
      const [expression, env, expected] = tests.slice(i, i + 3);
      assert.equal(typeof expression, 'string', `${file} ${group}: expression is a string`);
      assert.ok(env instanceof Map, `${file} ${group}: environment is a map`);
      out.push({ group, index: i / 3 + 1, expression: expression as string, env: toEnv(env), expected });
    }
  }
  return out;
}

function toEnv(m: Map<EdnValue, EdnValue>): ExprEnvironment {
  const env: ExprEnvironment = {};
  for (const [k, v] of m) env[typeof k === 'string' ? k : String(k)] = toValue(v);
  return env;
}

function toValue(v: EdnValue): ExprValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(toValue);
  if (v instanceof Map) return toEnv(v);
  throw new Error(`unsupported EDN value in an environment: ${String(v)}`);
}

/** The pattern of an expected `"corpus/regexp:…"` string or `#corpus/regexp "…"` tag, if any. */
function expectedPattern(expected: EdnValue): string | undefined {
  if (typeof expected === 'string' && expected.startsWith('corpus/regexp:')) return expected.slice('corpus/regexp:'.length);
  if (expected instanceof EdnTagged && expected.tag === 'corpus/regexp' && typeof expected.value === 'string') return expected.value;
  return undefined;
}

function checkError(v: Vector, expected: Map<EdnValue, EdnValue>): void {
  const field = (name: string): EdnValue | undefined => expected.get(kw(name));
  assert.throws(
    () => evaluateExpression(v.expression, v.env),
    (err: unknown) => {
      assert.ok(err instanceof ExprError, `expected an ExprError, got ${String(err)}`);
      assert.equal(err.errorType, field('errorType'));
      assert.equal(err.charPos, field('charPos'));
      assert.equal(err.lexeme, field('lexeme'));
      // scanner errors have no token type; others must name the same one
      assert.equal(err.tokenType, field('tokenType') ?? undefined);
      assert.ok(err.message.length > 0 && !err.message.includes('\n'), 'message is one line');
      return true;
    },
  );
}

function runCorpus(file: string, mode: 'value' | 'truthiness'): void {
  const skip = corpusSkip();
  describe(`${file} (${mode})`, { skip }, () => {
    if (skip) return;
    const vectors = loadVectors(file);
    const counts = { values: 0, errors: 0 };
    for (const v of vectors) {
      it(`${v.group} #${v.index}: ${v.expression}`, () => {
        if (v.expected instanceof Map) {
          counts.errors++;
          checkError(v, v.expected);
          return;
        }
        counts.values++;
        const result = evaluateExpression(v.expression, v.env);
        const pattern = expectedPattern(v.expected);
        if (mode === 'truthiness') {
          assert.equal(typeof v.expected, 'boolean', 'test-corpus expects booleans');
          assert.equal(isTruthy(result), v.expected);
        } else if (pattern !== undefined) {
          assert.equal(typeof result, 'string');
          assert.match(result as string, new RegExp(pattern));
        } else {
          // the corpus writes expr's undefined as nil
          assert.deepEqual(result, v.expected === null ? undefined : toValue(v.expected));
        }
      });
    }
    it('covers the whole file', (t) => {
      assert.ok(vectors.length > 100, `only ${vectors.length} vectors read`);
      t.diagnostic(`${file}: ${vectors.length} vectors (${counts.values} value, ${counts.errors} error)`);
    });
  });
}

assert.ok(EdnKeyword.of('x') === kw('x'), 'keywords are interned');
runCorpus('evaluator-corpus.edn', 'value');
runCorpus('test-corpus.edn', 'truthiness');
