/** The assignments of local runs: sources, secret references, and literal secrets in config.yml. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { literalSecretsByReference, localAssignment, type LocalRun } from '../../agent/assignment/local.js';
import { parseAssignment } from '../../agent/assignment/validate.js';
import { jobSpec } from '../support/config.js';

const withAuth = `version: 2.1
jobs:
  build:
    docker:
      - image: registry.example/app:1
        auth: {username: me, password: hunter2}
      - image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/db:1
        aws_auth: {aws_access_key_id: AKIAEXAMPLE, aws_secret_access_key: $AWS_SECRET}
    steps: [checkout]
`;

function local(overrides: Partial<LocalRun> = {}): LocalRun {
  return {
    spec: jobSpec(withAuth, 'build', { branch: 'main', revision: 'abcdef0123456789abcdef0123456789abcdef01', gitUrl: 'git@github.com:acme/app.git' }),
    repository: '/home/dev/app',
    git: { remoteUrl: 'git@github.com:acme/app.git', branch: 'main', revision: 'abcdef0123456789abcdef0123456789abcdef01' },
    runId: 'run-1',
    workflowRunId: 'wf-1',
    nodeIndex: 0,
    nodeTotal: 1,
    username: 'dev',
    storeUrl: '/home/dev/.deckhand/store',
    upstreamJobRunIds: [],
    skipCheckout: false,
    project: { files: ['/home/dev/app/.env'], env: ['API_TOKEN'] },
    contexts: { names: ['aws'], file: '/home/dev/.deckhand/contexts.yml' },
    sshKeysDir: '/home/dev/.deckhand/ssh-keys',
    output: null,
    runtime: { docker: { pull: 'missing', network: 'bridge' } },
    ...overrides,
  };
}

describe('localAssignment', () => {
  test('a literal image password leaves the spec for a variable the assignment names, with a warning', () => {
    const { assignment, environment, warnings } = localAssignment(local());
    assert.equal(JSON.stringify(assignment).includes('hunter2'), false, 'no secret value in the assignment');
    const [app, db] = assignment.spec.executor.kind === 'docker' ? assignment.spec.executor.containers : [];
    assert.deepEqual(app.auth, { username: 'me', password: '$DECKHAND_IMAGE_1_PASSWORD' });
    assert.equal(db.awsAuth?.secretAccessKey, '$AWS_SECRET', 'a value that names a variable stays');
    assert.deepEqual(environment, { DECKHAND_IMAGE_1_PASSWORD: 'hunter2' });
    assert.deepEqual(assignment.secrets.project, { files: ['/home/dev/app/.env'], env: ['API_TOKEN', 'DECKHAND_IMAGE_1_PASSWORD'] });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^job "build", image registry\.example\/app:1: auth\.password is written in config\.yml; use a project variable/);
    parseAssignment(JSON.parse(JSON.stringify(assignment)), 'local');
  });

  test('a literal aws_auth secret key goes the same way', () => {
    const spec = jobSpec(withAuth.replace('$AWS_SECRET', 'wJalrXUtnFEMI'), 'build');
    const { environment, warnings } = literalSecretsByReference(spec);
    assert.equal(environment.DECKHAND_IMAGE_2_AWS_SECRET_ACCESS_KEY, 'wJalrXUtnFEMI');
    assert.match(warnings[1], /aws_auth\.aws_secret_access_key is written in config\.yml/);
  });

  test('the run identity and storage scope: CircleCI values from the pipeline, caches by the origin remote', () => {
    const { assignment } = localAssignment(local({ nodeIndex: 1, nodeTotal: 3, upstreamJobRunIds: ['up-1'] }));
    assert.deepEqual(assignment.run, { ...assignment.run, id: 'run-1', workflowId: 'wf-1', workflowJobId: 'run-1', nodeIndex: 1, nodeTotal: 3, projectSlug: 'gh/acme/app', username: 'dev' });
    assert.deepEqual(assignment.storage, { url: '/home/dev/.deckhand/store', project: 'git@github.com:acme/app.git', workflowRunId: 'wf-1', jobRunId: 'run-1', upstreamJobRunIds: ['up-1'] });
    assert.deepEqual(assignment.source, { kind: 'local', path: '/home/dev/app', repositoryUrl: 'git@github.com:acme/app.git' });
    assert.deepEqual(assignment.secrets.contexts, { names: ['aws'], file: '/home/dev/.deckhand/contexts.yml' });
  });

  test('a checkout key makes the source the origin remote at the pipeline revision', () => {
    const { assignment } = localAssignment(local({ checkoutKey: '/home/dev/.ssh/deploy_key' }));
    assert.deepEqual(assignment.source, { kind: 'git', url: 'git@github.com:acme/app.git', revision: 'abcdef0123456789abcdef0123456789abcdef01', branch: 'main', checkoutKey: { file: '/home/dev/.ssh/deploy_key' } });
  });
});
