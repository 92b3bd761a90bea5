/** JobAssignments for tests, made the way `deckhand execute` makes them, and runJob's options around one. */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { localAssignment } from '../../agent/assignment/local.js';
import type { Executor } from '../../agent/executor/executor.js';
import { JOBSPEC_VERSION, type ExecutorSpec, type JobSpec, type Step } from '../../agent/jobspec/jobspec.js';
import type { OutputSink } from '../../agent/output/events.js';
import type { RunJobOptions } from '../../agent/runner/job-runner.js';
import { FsBlobStore } from '../../agent/store/fs-store.js';
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

/**
 * runJob's options for `steps` on an executor already made, as the core builds them from an
 * assignment: a JobSpec of those steps (executor kind, job environment as given), a local source
 * that checkout skips, a store under `scratch`, no secrets. For tests and benchmarks of the job
 * runner's own logic, which give it the executor themselves.
 */
export function runJobOptionsFor(options: {
  steps: Step[];
  executor: Executor;
  sink: OutputSink;
  scratch: string;
  kind?: ExecutorSpec;
  environment?: Record<string, string>;
  signal?: AbortSignal;
}): RunJobOptions {
  const runId = randomUUID();
  const executorSpec: ExecutorSpec = options.kind ?? { kind: 'docker', containers: [{ image: 'deckhand-test/busybox:latest', environment: {} }] };
  const spec: JobSpec = {
    schemaVersion: JOBSPEC_VERSION,
    job: { name: 'build', definition: 'build', type: 'build' },
    executor: executorSpec,
    resources: { class: 'medium', cpus: 2, memoryMb: executorSpec.kind === 'machine' ? 7680 : 4096 },
    workingDirectory: '~/project',
    environment: options.environment ?? {},
    parallelism: 1,
    steps: options.steps,
    contexts: [],
    pipeline: {
      id: randomUUID(),
      number: 1,
      trigger_source: 'api',
      schedule: { name: '', id: '' },
      project: { git_url: '', type: '', slug: '', name: '' },
      git: { tag: '', branch: 'main', revision: '0'.repeat(40), base_revision: '' },
      parameters: {},
    },
  };
  const { scratch } = options;
  const { assignment } = localAssignment({
    spec,
    repository: scratch,
    git: {},
    runId,
    workflowRunId: runId,
    nodeIndex: 0,
    nodeTotal: 1,
    username: 'tester',
    storeUrl: join(scratch, 'store'),
    upstreamJobRunIds: [],
    skipCheckout: true,
    project: { files: [], env: [] },
    contexts: { names: [], file: join(scratch, 'contexts.yml') },
    sshKeysDir: join(scratch, 'no-ssh-keys'),
    output: null,
    runtime: { docker: { pull: 'never', network: 'bridge' } },
  });
  return {
    assignment,
    executor: options.executor,
    sink: options.sink,
    secrets: { project: {}, contexts: {} },
    storage: { store: new FsBlobStore(join(scratch, 'store')), project: scratch, workflowRunId: runId, jobRunId: runId, jobName: 'build', upstreamJobRunIds: [] },
    signal: options.signal ?? new AbortController().signal,
  };
}
