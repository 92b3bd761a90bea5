/**
 * Every real config of the test corpus (its `configs/`, see test/support/corpus.ts) is one
 * CircleCI accepts, so each must load and pass the structural check with no errors (warnings,
 * keys CircleCI ignores, are allowed: one config has a key misplaced in a matrix).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatDiagnostic, isWarning } from '../../../agent/config/diagnostics.js';
import { validateConfigShape } from '../../../agent/config/schema/validate.js';
import { loadYamlFile } from '../../../agent/config/source.js';
import { corpusPath, corpusSkip, hasCorpus } from '../../support/corpus.js';

const dir = hasCorpus() ? corpusPath('configs') : '';
const files = dir ? readdirSync(dir).filter((f) => f.endsWith('.yml')).sort() : [];

test('the corpus is there', { skip: corpusSkip() }, () => {
  corpusPath('configs'); // under CI, a missing corpus fails here
  assert.ok(files.length >= 50, `expected the real-config corpus in ${dir}, found ${files.length} files`);
});

for (const file of files) {
  test(`corpus config ${file} has a valid shape`, () => {
    const root = loadYamlFile(join(dir, file), file);
    const problems = validateConfigShape(root, file).filter((d) => !isWarning(d)).map(formatDiagnostic);
    assert.deepEqual(problems, []);
  });
}
