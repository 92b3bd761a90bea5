/**
 * Secret references are read when the job starts, from the files, folders and environment
 * variables the assignment names; a reference that cannot be read stops the job before anything
 * starts, with one line naming it and never the value.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { resolveSecrets } from '../../agent/assignment/secrets.js';
import { UsageError } from '../../agent/errors.js';
import { testAssignment } from '../support/assignment.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-secrets-'));

function withSecrets(secrets: JobAssignment['secrets'], source?: JobAssignment['source']): JobAssignment {
  return { ...testAssignment(), secrets, ...(source ? { source } : {}) };
}

describe('resolveSecrets', () => {
  test('project variables: files in order, then variables of the agent environment by name (later wins)', () => {
    writeFileSync(join(dir, 'one.env'), 'A=from-one\nB=from-one\n# a comment\nexport C="quoted \\"value\\""\n');
    writeFileSync(join(dir, 'two.env'), "B='from-two'\n");
    const r = resolveSecrets(withSecrets({ project: { files: [join(dir, 'one.env'), join(dir, 'two.env')], env: ['A', 'EMPTY'] } }), { A: 'from-env', EMPTY: '' });
    assert.deepEqual(r.project, { A: 'from-env', B: 'from-two', C: 'quoted "value"', EMPTY: '' });
  });

  test('contexts from a YAML map, or from a folder of NAME.env files; later contexts win', () => {
    writeFileSync(join(dir, 'contexts.yml'), 'aws:\n  KEY: aws-key\n  SHARED: aws\nslack:\n  SHARED: slack\n  N: 42\n');
    assert.deepEqual(resolveSecrets(withSecrets({ contexts: { names: ['aws', 'slack'], file: join(dir, 'contexts.yml') } }), {}).contexts, { KEY: 'aws-key', SHARED: 'slack', N: '42' });
    mkdirSync(join(dir, 'contexts'), { recursive: true });
    writeFileSync(join(dir, 'contexts', 'aws.env'), 'KEY=from-dir\n');
    assert.deepEqual(resolveSecrets(withSecrets({ contexts: { names: ['aws'], dir: join(dir, 'contexts') } }), {}).contexts, { KEY: 'from-dir' });
  });

  test('the checkout key of a git source from a file or a variable, named for messages', () => {
    writeFileSync(join(dir, 'key'), '-----BEGIN OPENSSH PRIVATE KEY-----\n...\n');
    const fromFile = resolveSecrets(withSecrets({}, { kind: 'git', url: 'git@host:o/r.git', checkoutKey: { file: join(dir, 'key') } }), {});
    assert.deepEqual(fromFile.checkoutKey, { material: '-----BEGIN OPENSSH PRIVATE KEY-----\n...\n', source: join(dir, 'key') });
    const fromEnv = resolveSecrets(withSecrets({}, { kind: 'git', url: 'git@host:o/r.git', checkoutKey: { env: 'CHECKOUT_KEY' } }), { CHECKOUT_KEY: 'material' });
    assert.deepEqual(fromEnv.checkoutKey, { material: 'material', source: '$CHECKOUT_KEY' });
  });

  const refusals: [string, JobAssignment, RegExp][] = [
    ['a missing variable', withSecrets({ project: { env: ['API_TOKEN'] } }), /^the project variable is read from \$API_TOKEN, which is not set in the agent's environment/],
    ['a missing file', withSecrets({ project: { files: [join(dir, 'nope.env')] } }), /^project variables file .*nope\.env does not exist$/],
    ['a malformed file', (writeFileSync(join(dir, 'bad.env'), 'OK=1\nthis is not a pair\n'), withSecrets({ project: { files: [join(dir, 'bad.env')] } })), /bad\.env:2:1: expected KEY=VALUE/],
    ['an unknown context', withSecrets({ contexts: { names: ['gcp'], file: join(dir, 'contexts.yml') } }), /^context "gcp" is not defined in .*contexts\.yml/],
    ['a context missing from the folder', withSecrets({ contexts: { names: ['gcp'], dir: join(dir, 'contexts') } }), /^context "gcp" is not in .*: expected the file .*gcp\.env$/],
    ['an unreadable checkout key', withSecrets({}, { kind: 'git', url: 'u', checkoutKey: { file: join(dir, 'no-key') } }), /^the checkout key is read from .*no-key, which cannot be read \(ENOENT\)/],
  ];
  for (const [name, assignment, expected] of refusals) {
    test(`refuses ${name} with one line`, () => {
      assert.throws(() => resolveSecrets(assignment, {}), (err: Error) => {
        assert.ok(err instanceof UsageError, String(err));
        assert.match(err.message, expected);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    });
  }
});
