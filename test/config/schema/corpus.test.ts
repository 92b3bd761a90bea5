/**
 * Every real config in ../shared/corpus/configs is one CircleCI accepts, so each must load and pass
 * the structural check with no diagnostics at all.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatDiagnostic } from '../../../agent/config/diagnostics.js';
import { validateConfigShape } from '../../../agent/config/schema/validate.js';
import { loadYamlFile } from '../../../agent/config/source.js';
import { hasShared, sharedDir } from '../../support/shared.js';

const available = hasShared();
const dir = available ? join(sharedDir(), 'corpus', 'configs') : '';
const files = available ? readdirSync(dir).filter((f) => f.endsWith('.yml')).sort() : [];

test('the corpus is there', { skip: available ? false : 'shared test data not found (set DECKHAND_SHARED)' }, () => {
  assert.ok(files.length >= 50, `expected the real-config corpus in ${dir}, found ${files.length} files`);
});

for (const file of files) {
  test(`corpus config ${file} has a valid shape`, () => {
    const root = loadYamlFile(join(dir, file), file);
    const problems = validateConfigShape(root, file).map(formatDiagnostic);
    assert.deepEqual(problems, []);
  });
}
