/**
 * A JobAssignment read from a file or a payload is checked before anything starts: each wrong one
 * is refused with one line naming where it came from, the JSON path of the first problem, what
 * was expected and what was found.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ASSIGNMENT_VERSION } from '../../agent/assignment/assignment.js';
import { AssignmentError, parseAssignment, parseAssignmentText } from '../../agent/assignment/validate.js';
import { errorKind, exitCodeFor } from '../../agent/errors.js';
import { testAssignment } from '../support/assignment.js';

/** A valid assignment as plain JSON, changed by `edit`. */
function edited(edit: (a: Record<string, any>) => void): unknown {
  const a = JSON.parse(JSON.stringify(testAssignment())) as Record<string, any>;
  edit(a);
  return a;
}

function refusal(value: unknown): string {
  try {
    parseAssignment(value, 'job.json');
  } catch (err) {
    assert.ok(err instanceof AssignmentError, `an AssignmentError, not ${String(err)}`);
    assert.equal(errorKind(err), 'input');
    assert.equal(exitCodeFor(errorKind(err)), 2);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err.message;
  }
  assert.fail('the assignment was accepted');
}

describe('a valid assignment', () => {
  test('is accepted as it is, and survives a JSON round trip', () => {
    const a = testAssignment();
    assert.equal(a.assignmentVersion, ASSIGNMENT_VERSION);
    assert.deepEqual(parseAssignmentText(JSON.stringify(a), 'job.json'), a);
  });

  test('SSH keys by file, inline, or both are accepted', () => {
    for (const ssh of [{ enabled: true, authorizedKeys: ['/keys/a.pub'] }, { enabled: true, authorizedKeyLines: ['ssh-ed25519 AAAAC3Nz you@laptop'] }, { enabled: true, authorizedKeys: ['/keys/a.pub'], authorizedKeyLines: ['ssh-ed25519 AAAAC3Nz you@laptop'] }]) {
      assert.deepEqual(parseAssignment(edited((a) => (a.ssh = ssh)), 'job.json').ssh, ssh);
    }
  });

  test('an output target and a git source with a checkout key by reference are accepted', () => {
    const a = edited((x) => {
      x.output = { processor: '127.0.0.1:8585', jobId: 'job-1', token: { file: '/secrets/token' }, tls: { ca: '/secrets/ca.pem' }, deadlineSeconds: 30 };
      x.source = { kind: 'git', url: 'git@github.com:org/repo.git', revision: '0123456789abcdef0123456789abcdef01234567', branch: 'main', checkoutKey: { env: 'CHECKOUT_KEY' } };
      x.limits.maxRunSeconds = 3600;
    });
    assert.equal(parseAssignment(a, 'job.json').source.kind, 'git');
  });
});

describe('a bad assignment is refused with its JSON path', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /^invalid assignment job\.json: \$: expected a JSON object, got an array of 2$/],
    ['no version', edited((a) => delete a.assignmentVersion), /\$\.assignmentVersion: missing; expected 1$/],
    ['a newer version', edited((a) => (a.assignmentVersion = 2)), /\$\.assignmentVersion: version 2 is not supported; this deckhand reads version 1$/],
    ['a JobSpec of another version', edited((a) => (a.spec.schemaVersion = 7)), /\$\.spec\.schemaVersion: JobSpec version 7 is not supported; this deckhand reads version 1$/],
    ['a missing section', edited((a) => delete a.storage), /\$\.storage: missing \(required\)$/],
    ['a missing field', edited((a) => delete a.run.buildNumber), /\$\.run\.buildNumber: missing \(required\)$/],
    ['a wrong type', edited((a) => (a.run.nodeIndex = '1')), /\$\.run\.nodeIndex: expected a whole number, got string "1"$/],
    ['a fraction where a whole number goes', edited((a) => (a.run.nodeTotal = 1.5)), /\$\.run\.nodeTotal: expected a whole number, got number 1\.5$/],
    ['an index past the total', edited((a) => ((a.run.nodeIndex = 3), (a.run.nodeTotal = 3))), /\$\.run\.nodeIndex: expected a node index below nodeTotal \(3\), got 3$/],
    ['an unknown field, with a suggestion', edited((a) => (a.run.nodeIdx = 0)), /\$\.run\.nodeIdx: unknown field; did you mean "nodeIndex"\?$/],
    ['an unknown source kind', edited((a) => (a.source = { kind: 'svn', url: 'x' })), /\$\.source\.kind: expected one of "git", "local", got string "svn"$/],
    ['a relative path', edited((a) => (a.source = { kind: 'local', path: 'repo' })), /\$\.source\.path: expected an absolute path on the agent's machine, got string "repo"$/],
    ['a secret given as a value', edited((a) => (a.secrets.project = { values: { TOKEN: 'hunter2' } })), /\$\.secrets\.project\.values: unknown field/],
    ['a secret reference with both forms', edited((a) => (a.secrets.project = { files: ['/a'] }, a.source = { kind: 'git', url: 'u', checkoutKey: { file: '/k', env: 'K' } })), /\$\.source\.checkoutKey: expected .*, got an object$/],
    ['a bad pull policy', edited((a) => (a.runtime.docker.pull = 'sometimes')), /\$\.runtime\.docker\.pull: expected one of "always", "missing", "never", got string "sometimes"$/],
    ['a bad output address', edited((a) => (a.output = { processor: 'localhost', jobId: 'j', deadlineSeconds: 5 })), /\$\.output\.processor: expected a string matching .*, got string "localhost"$/],
    ['a negative deadline', edited((a) => (a.output = { processor: 'h:1', jobId: 'j', deadlineSeconds: -1 })), /\$\.output\.deadlineSeconds: expected a number >= 0, got number -1$/],
    ['a bad job id', edited((a) => (a.run.id = '../etc')), /\$\.run\.id: expected 1-128 letters, digits, '\.', '_' or '-', starting with a letter or digit, got string "\.\.\/etc"$/],
    ['an unknown step type', edited((a) => (a.spec.steps[0].type = 'deploy_now')), /\$\.spec\.steps\[0\]\.type: expected one of "run", "checkout", .*"add_ssh_keys", got string "deploy_now"$/],
    ['a step missing its command', edited((a) => delete a.spec.steps[0].command), /\$\.spec\.steps\[0\]\.command: missing \(required\)$/],
    ['a TLS client certificate without its key', edited((a) => (a.output = { processor: 'h:1', jobId: 'j', deadlineSeconds: 5, tls: { ca: '/ca', cert: '/c' } })), /\$\.output\.tls: expected cert and key together/],
    ['SSH enabled with no key at all', edited((a) => (a.ssh = { enabled: true })), /\$\.ssh\.authorizedKeys: expected at least one public key when ssh is enabled: files in authorizedKeys, or lines in authorizedKeyLines$/],
    ['an inline SSH key line with a line break in it', edited((a) => (a.ssh = { enabled: true, authorizedKeyLines: ['ssh-ed25519 AAAA a\nssh-rsa BBBB b'] })), /\$\.ssh\.authorizedKeyLines\[0\]: expected a string matching/],
    ['both a token and a token secret', edited((a) => (a.output = { processor: 'h:1', jobId: 'j', deadlineSeconds: 5, token: { env: 'T' }, tokenSecretFile: '/s' })), /\$\.output: expected one of token and tokenSecretFile, got both$/],
  ];
  for (const [name, value, expected] of cases) {
    test(name, () => assert.match(refusal(value), expected));
  }

  test('text that is not JSON says so, with where it came from', () => {
    assert.throws(() => parseAssignmentText('{"assignmentVersion": 1,', 'payload'), (err: Error) => {
      assert.ok(err instanceof AssignmentError);
      assert.match(err.message, /^assignment payload is not JSON: /);
      return true;
    });
  });
});
