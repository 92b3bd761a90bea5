/** A valid JobAssignment for tests, made the way `deckhand execute` makes one, to change field by field. */
import { randomUUID } from 'node:crypto';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { localAssignment } from '../../agent/assignment/local.js';
import { jobSpec } from './config.js';

export const ONE_STEP_CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: deckhand-test/busybox:latest
    steps:
      - run: echo hello
workflows:
  main:
    jobs: [build]
`;

/** An assignment of `config`'s job `job`, with a local source in `repository` and the store in `store`. */
export function testAssignment(options: { config?: string; job?: string; repository?: string; store?: string } = {}): JobAssignment {
  const runId = randomUUID();
  return localAssignment({
    spec: jobSpec(options.config ?? ONE_STEP_CONFIG, options.job ?? 'build'),
    repository: options.repository ?? '/tmp/deckhand-test-repository',
    git: {},
    runId,
    workflowRunId: runId,
    nodeIndex: 0,
    nodeTotal: 1,
    username: 'tester',
    storeUrl: options.store ?? '/tmp/deckhand-test-store',
    upstreamJobRunIds: [],
    skipCheckout: false,
    project: { files: [], env: [] },
    contexts: { names: [], file: '/nonexistent/contexts.yml' },
    sshKeysDir: '/nonexistent/ssh-keys',
    output: null,
    runtime: { docker: { pull: 'never', network: 'bridge' } },
  }).assignment;
}
