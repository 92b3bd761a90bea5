// The client's settings the task driver passes to agent nomad-task: its store wins, its output
// processor fills in or redirects the assignment's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyClientSettings } from '../../agent/nomad/client-settings.js';
import { testAssignment } from '../support/assignment.js';

describe('applyClientSettings', () => {
  it('replaces the store, and streams to the client\'s processor with a minted token', () => {
    const a = testAssignment();
    const out = applyClientSettings(a, { store: 's3://ci/deckhand', outputProcessor: 'op:8585', outputSecretFile: '/etc/deckhand/secret' });
    assert.equal(out.storage.url, 's3://ci/deckhand');
    assert.deepEqual(out.output, { processor: 'op:8585', jobId: a.run.id, tokenSecretFile: '/etc/deckhand/secret', deadlineSeconds: 60 });
    assert.equal(applyClientSettings(a, {}), a);
  });

  it('keeps an assignment\'s own token and job id, and says what is missing', () => {
    const a = { ...testAssignment(), output: { processor: 'old:1', jobId: 'j', token: { env: 'T' }, deadlineSeconds: 5 } };
    assert.deepEqual(applyClientSettings(a, { outputProcessor: 'new:2', outputSecretFile: '/s' }).output, { processor: 'new:2', jobId: 'j', token: { env: 'T' }, deadlineSeconds: 5 });
    assert.throws(() => applyClientSettings(testAssignment(), { outputProcessor: 'op:1' }), /needs --output-secret-file/);
    assert.throws(() => applyClientSettings(testAssignment(), { outputUrl: 'http://x' }), /need --output-processor/);
  });
});
