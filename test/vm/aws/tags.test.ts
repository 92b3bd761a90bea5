import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { instanceTags, recordOf, SINCE_TAG } from '../../../agent/vm/aws/tags.js';

describe('aws instance tags', () => {
  it('say whose an instance is, and a listing reads them back', () => {
    const tags = instanceTags('machine', { jobId: 'build', runId: 'r-1' }, { imageName: 'default', resourceClass: 'large' }, 1_700_000_000_000);
    const record = recordOf({ InstanceId: 'i-1', LaunchTime: new Date(0), Tags: tags });
    assert.deepEqual(record, { id: 'i-1', since: 1_700_000_000_000, owner: { jobId: 'build', runId: 'r-1' } });
    assert.ok(tags.some((t) => t.Key === 'ManagedBy' && t.Value === 'deckhand'));
  });

  it('a warm instance has no owner, and one without the hand-over tag counts from its launch', () => {
    const warm = instanceTags('warm', undefined, { imageName: 'default', resourceClass: 'medium' }, 5);
    assert.deepEqual(recordOf({ InstanceId: 'i-2', Tags: warm }), { id: 'i-2', since: 5 });
    const untagged = warm.filter((t) => t.Key !== SINCE_TAG);
    assert.deepEqual(recordOf({ InstanceId: 'i-3', LaunchTime: new Date(1234), Tags: untagged }), { id: 'i-3', since: 1234 });
  });
});
