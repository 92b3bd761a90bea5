// A Nomad task's environment, reproduced as the Nomad client sets it for a dispatched
// parameterized job: the typed task, meta in both case forms, the node slice from meta, and
// what goes into the job's log.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeNomadTask, isNomadTask, readMeta, readNodeSlice, readNomadTask } from '../../agent/nomad/task-env.js';
import { UsageError } from '../../agent/errors.js';

const ALLOC_ID = '5b3e8d52-1f0a-4c2e-9a7b-3c1d2e4f6a8b';

/**
 * What a task of `deckhand-medium`, dispatched with meta node_index=2 and node_total=4 (and
 * `build_id`; the optional `attempt` not given), sees: Nomad sets every meta key as spelled and
 * upper-cased, and an optional key the dispatch left out as "".
 */
function dispatchedEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    PATH: '/usr/bin:/bin',
    HOME: '/root',
    NOMAD_ALLOC_DIR: '/alloc',
    NOMAD_TASK_DIR: '/local',
    NOMAD_SECRETS_DIR: '/secrets',
    NOMAD_MEMORY_LIMIT: '4096',
    NOMAD_MEMORY_MAX_LIMIT: '6144',
    NOMAD_CPU_LIMIT: '2000',
    NOMAD_ALLOC_ID: ALLOC_ID,
    NOMAD_SHORT_ALLOC_ID: ALLOC_ID.slice(0, 8),
    NOMAD_ALLOC_NAME: 'deckhand-medium/dispatch-1701234567-abcd1234.agent[0]',
    NOMAD_GROUP_NAME: 'agent',
    NOMAD_ALLOC_INDEX: '0',
    NOMAD_TASK_NAME: 'deckhand',
    NOMAD_JOB_ID: 'deckhand-medium/dispatch-1701234567-abcd1234',
    NOMAD_JOB_NAME: 'deckhand-medium/dispatch-1701234567-abcd1234',
    NOMAD_JOB_PARENT_ID: 'deckhand-medium',
    NOMAD_DC: 'dc1',
    NOMAD_NAMESPACE: 'ci',
    NOMAD_REGION: 'global',
    NOMAD_PARENT_CGROUP: 'nomad.slice',
    NOMAD_META_node_index: '2',
    NOMAD_META_NODE_INDEX: '2',
    NOMAD_META_node_total: '4',
    NOMAD_META_NODE_TOTAL: '4',
    NOMAD_META_build_id: 'b-981',
    NOMAD_META_BUILD_ID: 'b-981',
    NOMAD_META_attempt: '',
    NOMAD_META_ATTEMPT: '',
    ...extra,
  };
}

function throwsUsage(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    assert.doesNotMatch(err.message, /\n/);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  });
}

describe('readNomadTask', () => {
  it('reads a dispatched parameterized job task', () => {
    const task = readNomadTask(dispatchedEnv());
    assert.deepEqual(task, {
      taskDir: '/local',
      allocDir: '/alloc',
      secretsDir: '/secrets',
      allocId: ALLOC_ID,
      allocName: 'deckhand-medium/dispatch-1701234567-abcd1234.agent[0]',
      allocIndex: 0,
      jobId: 'deckhand-medium/dispatch-1701234567-abcd1234',
      jobName: 'deckhand-medium/dispatch-1701234567-abcd1234',
      parentJobId: 'deckhand-medium',
      taskName: 'deckhand',
      group: 'agent',
      namespace: 'ci',
      region: 'global',
      datacenter: 'dc1',
      cpuLimit: 2000,
      memoryLimit: 4096,
      memoryMaxLimit: 6144,
      meta: {
        node_index: '2',
        NODE_INDEX: '2',
        node_total: '4',
        NODE_TOTAL: '4',
        build_id: 'b-981',
        BUILD_ID: 'b-981',
        attempt: '',
        ATTEMPT: '',
      },
    });
    assert.equal(isNomadTask(task), true);
  });

  it('reads reserved cores when the task asked for cores', () => {
    const task = readNomadTask(dispatchedEnv({ NOMAD_CPU_CORES: '0-2,7', NOMAD_CPU_LIMIT: '8000' }));
    assert.equal(task.cpuCores, '0-2,7');
    assert.equal(task.cpuLimit, 8000);
  });

  it('outside Nomad: nothing but an empty meta', () => {
    const task = readNomadTask({ PATH: '/usr/bin', HOME: '/home/me' });
    assert.deepEqual(task, { meta: {} });
    assert.equal(isNomadTask(task), false);
  });

  it('a limit that is not a whole number names the variable', () => {
    throwsUsage(() => readNomadTask(dispatchedEnv({ NOMAD_MEMORY_LIMIT: '4G' })), /NOMAD_MEMORY_LIMIT is "4G": it must be a whole number/);
    throwsUsage(() => readNomadTask(dispatchedEnv({ NOMAD_ALLOC_INDEX: '-1' })), /NOMAD_ALLOC_INDEX/);
  });
});

describe('meta', () => {
  it('finds a key in either case form, and treats an empty optional key as absent', () => {
    const task = readNomadTask(dispatchedEnv());
    assert.deepEqual(readMeta(task, 'build_id'), { name: 'NOMAD_META_build_id', value: 'b-981' });
    assert.deepEqual(readMeta(task, 'BUILD_ID'), { name: 'NOMAD_META_BUILD_ID', value: 'b-981' });
    assert.equal(readMeta(task, 'attempt'), undefined);
    assert.equal(readMeta(task, 'nothing'), undefined);
  });

  it('finds a key set by hand in one form only', () => {
    assert.deepEqual(readMeta(readNomadTask({ NOMAD_META_NODE_INDEX: '1' }), 'node_index'), { name: 'NOMAD_META_NODE_INDEX', value: '1' });
    assert.deepEqual(readMeta(readNomadTask({ NOMAD_META_node_index: '1' }), 'node_index'), { name: 'NOMAD_META_node_index', value: '1' });
  });

  it('cleans a key as Nomad cleans variable names', () => {
    assert.deepEqual(readMeta(readNomadTask({ NOMAD_META_build_id: 'x' }), 'build-id'), { name: 'NOMAD_META_build_id', value: 'x' });
  });

  it('two spellings that disagree are an error naming both', () => {
    throwsUsage(() => readMeta(readNomadTask({ NOMAD_META_node_index: '1', NOMAD_META_NODE_INDEX: '3' }), 'node_index'), /NOMAD_META_node_index is "1" but NOMAD_META_NODE_INDEX is "3"/);
  });
});

describe('readNodeSlice', () => {
  it('reads index and total from meta, either case form', () => {
    assert.deepEqual(readNodeSlice(readNomadTask(dispatchedEnv())), { index: 2, total: 4 });
    assert.deepEqual(readNodeSlice(readNomadTask({ NOMAD_META_NODE_INDEX: '0', NOMAD_META_NODE_TOTAL: '1' })), { index: 0, total: 1 });
    assert.deepEqual(readNodeSlice(readNomadTask({ NOMAD_META_node_index: '9', NOMAD_META_node_total: '10' })), { index: 9, total: 10 });
  });

  it('none when meta has neither (or both empty, as optional dispatch meta left out)', () => {
    assert.equal(readNodeSlice(readNomadTask({})), undefined);
    assert.equal(readNodeSlice(readNomadTask({ NOMAD_META_node_index: '', NOMAD_META_NODE_INDEX: '', NOMAD_META_node_total: '', NOMAD_META_NODE_TOTAL: '' })), undefined);
  });

  it('bad values: a clear error naming the variable', () => {
    const slice = (env: Record<string, string>) => () => readNodeSlice(readNomadTask(env));
    throwsUsage(slice({ NOMAD_META_node_index: 'two', NOMAD_META_node_total: '4' }), /NOMAD_META_node_index is "two": it must be a whole number below NOMAD_META_node_total \(4\)/);
    throwsUsage(slice({ NOMAD_META_NODE_INDEX: '1.5', NOMAD_META_NODE_TOTAL: '4' }), /NOMAD_META_NODE_INDEX is "1.5"/);
    throwsUsage(slice({ NOMAD_META_node_index: '-1', NOMAD_META_node_total: '4' }), /NOMAD_META_node_index is "-1"/);
    throwsUsage(slice({ NOMAD_META_node_index: ' 1', NOMAD_META_node_total: '4' }), /NOMAD_META_node_index is " 1"/);
    throwsUsage(slice({ NOMAD_META_node_index: '0', NOMAD_META_node_total: '0' }), /NOMAD_META_node_total is "0": it must be a whole number of parallel nodes, 1 or more/);
    throwsUsage(slice({ NOMAD_META_node_index: '0', NOMAD_META_node_total: 'many' }), /NOMAD_META_node_total is "many"/);
    throwsUsage(slice({ NOMAD_META_node_index: '4', NOMAD_META_node_total: '4' }), /NOMAD_META_node_index is 4 but NOMAD_META_node_total is 4: the index counts from 0/);
    throwsUsage(slice({ NOMAD_META_node_index: '99999999999999999999', NOMAD_META_node_total: '4' }), /NOMAD_META_node_index/);
  });

  it('one without the other is an error', () => {
    throwsUsage(() => readNodeSlice(readNomadTask({ NOMAD_META_NODE_INDEX: '1' })), /NOMAD_META_NODE_INDEX is set but NOMAD_META_node_total is not/);
    throwsUsage(() => readNodeSlice(readNomadTask({ NOMAD_META_node_total: '3' })), /NOMAD_META_node_total is set but NOMAD_META_node_index is not/);
  });
});

describe('describeNomadTask', () => {
  it('gives a flat record for the log: ids, placement, limits, meta once each', () => {
    assert.deepEqual(describeNomadTask(readNomadTask(dispatchedEnv({ NOMAD_META_LEVEL: 'high' }))), {
      'nomad.allocId': ALLOC_ID,
      'nomad.allocName': 'deckhand-medium/dispatch-1701234567-abcd1234.agent[0]',
      'nomad.allocIndex': 0,
      'nomad.jobId': 'deckhand-medium/dispatch-1701234567-abcd1234',
      'nomad.jobName': 'deckhand-medium/dispatch-1701234567-abcd1234',
      'nomad.parentJobId': 'deckhand-medium',
      'nomad.group': 'agent',
      'nomad.task': 'deckhand',
      'nomad.namespace': 'ci',
      'nomad.region': 'global',
      'nomad.datacenter': 'dc1',
      'nomad.cpuMhz': 2000,
      'nomad.memoryMb': 4096,
      'nomad.memoryMaxMb': 6144,
      'nomad.meta.LEVEL': 'high',
      'nomad.meta.build_id': 'b-981',
      'nomad.meta.node_index': '2',
      'nomad.meta.node_total': '4',
    });
  });

  it('outside Nomad: empty', () => {
    assert.deepEqual(describeNomadTask(readNomadTask({})), {});
  });
});
