/** The task's folders in an assignment's secret and output paths, expanded from Nomad's environment. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandTaskPaths } from '../../agent/nomad/task-paths.js';
import { readNomadTask } from '../../agent/nomad/task-env.js';

const task = readNomadTask({ NOMAD_SECRETS_DIR: '/alloc/a1/agent/secrets', NOMAD_TASK_DIR: '/alloc/a1/agent/local', NOMAD_ALLOC_DIR: '/alloc/a1/alloc' });

test('secrets, output and the checkout key get the folders; the JobSpec keeps its text', () => {
  const raw = {
    spec: { steps: [{ type: 'run', command: 'cat ${NOMAD_SECRETS_DIR}/x' }] },
    source: { kind: 'git', url: 'u', checkoutKey: { file: '${NOMAD_SECRETS_DIR}/checkout_key' } },
    secrets: { project: { files: ['${NOMAD_SECRETS_DIR}/project.env', '/etc/static.env'] }, contexts: { names: ['aws'], dir: '${NOMAD_TASK_DIR}/contexts' } },
    output: { processor: 'p:8585', jobId: 'j', token: { file: '${NOMAD_ALLOC_DIR}/token' }, deadlineSeconds: 5 },
  };
  assert.deepEqual(expandTaskPaths(raw, task), {
    spec: { steps: [{ type: 'run', command: 'cat ${NOMAD_SECRETS_DIR}/x' }] },
    source: { kind: 'git', url: 'u', checkoutKey: { file: '/alloc/a1/agent/secrets/checkout_key' } },
    secrets: { project: { files: ['/alloc/a1/agent/secrets/project.env', '/etc/static.env'] }, contexts: { names: ['aws'], dir: '/alloc/a1/agent/local/contexts' } },
    output: { processor: 'p:8585', jobId: 'j', token: { file: '/alloc/a1/alloc/token' }, deadlineSeconds: 5 },
  });
});

test('a placeholder only at the start, only for a folder Nomad set; anything else is left for the validator to refuse', () => {
  const raw = { secrets: { project: { files: ['/x/${NOMAD_SECRETS_DIR}', '${NOMAD_SECRETS_DIRX}/a', '${HOME}/a'] } } };
  assert.deepEqual(expandTaskPaths(raw, task), raw);
  assert.deepEqual(expandTaskPaths({ secrets: { sshKeysDir: '${NOMAD_TASK_DIR}' } }, readNomadTask({})), { secrets: { sshKeysDir: '${NOMAD_TASK_DIR}' } });
  assert.equal(expandTaskPaths('not an object', task), 'not an object');
});
