// The store_test_results step against the real Docker engine and a real filesystem store: the
// fixtures of every tool copied into a busybox container, read back out through copyOut, summed,
// stored, and their timings recorded; every bad input a warning, never a failed step.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { DockerExecutor } from '../../agent/executor/docker/docker-executor.js';
import type { StoreTestResultsStep } from '../../agent/jobspec/jobspec.js';
import { storeTestResultsStep } from '../../agent/steps/store-test-results.js';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import type { JobStorage } from '../../agent/store/job-storage.js';
import { deliverTimings } from '../../agent/test-results/deliver-timings.js';
import { readTestResults, testResultsPrefix } from '../../agent/test-results/stored-results.js';
import { loadTimings } from '../../agent/test-results/stored-timings.js';
import { BUSYBOX, collect, realEngine, readAll, uniqueJobId } from '../executor/docker/engine-fixture.js';
import { repoRoot } from '../support/repo-root.js';
import { testContext } from './local-steps-fixture.js';

const WD = '/home/circleci/project';
const FIXTURES = path.join(repoRoot(), 'test', 'fixtures', 'junit');

const step = (p: string): StoreTestResultsStep => ({ type: 'store_test_results', name: 'Uploading test results', when: 'always', path: p });

/** The fixture folder as a tar, under `results/` (plus a file that is not XML). */
async function fixturesTar(): Promise<Readable> {
  const pack = tar.pack();
  const add = async (dir: string, prefix: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await add(path.join(dir, e.name), `${prefix}${e.name}/`);
      else pack.entry({ name: `${prefix}${e.name}` }, await readFile(path.join(dir, e.name)));
    }
  };
  await add(FIXTURES, 'results/');
  pack.entry({ name: 'results/notes.txt' }, 'not a result\n');
  pack.finalize();
  return Readable.from(pack, { objectMode: false });
}

describe('store_test_results in a busybox container', () => {
  let executor: DockerExecutor;
  let scratch: string;
  let n = 0;

  /** A fresh store and job run for each test. */
  function storage(jobFailed = false): { storage: JobStorage; store: FsBlobStore; jobFailed: boolean } {
    const store = new FsBlobStore(path.join(scratch, `store-${n++}`));
    return { store, jobFailed, storage: { store, project: 'git@github.com:acme/shop.git', workflowRunId: 'w', jobRunId: `job-${n}`, jobName: 'test', upstreamJobRunIds: [] } };
  }

  async function runStep(p: string, opts: { jobFailed?: boolean } = {}) {
    const s = storage(opts.jobFailed);
    const { ctx, output } = testContext(executor, { workingDirectory: WD, home: '/root', storage: s.storage });
    ctx.jobFailed = s.jobFailed;
    const result = await storeTestResultsStep(step(p), ctx);
    return { result, agent: output.agent, ...s };
  }

  before(async () => {
    const docker = await realEngine();
    scratch = await mkdtemp(path.join(tmpdir(), 'deckhand-test-results-'));
    executor = new DockerExecutor({ docker, jobId: uniqueJobId('store-test-results'), containers: [{ image: BUSYBOX }] });
    await executor.prepare();
    await executor.copyIn(WD, await fixturesTar());
    const made = await collect(executor.exec({ command: ['/bin/sh', '-c', `mkdir -p ${WD}/empty && echo x > ${WD}/empty/readme.md && head -c 34000000 /dev/zero > /tmp/huge.xml`] }));
    assert.equal(made.exitCode, 0, made.stderr);
  });
  after(async () => {
    await executor?.teardown();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('a folder of every tool: summary, failures listed, malformed file warned, all stored, timings recorded', async () => {
    const { result, agent, store, storage: st } = await runStep('results');
    assert.deepEqual(result, { status: 'success' });
    // 6 + 5 + 3 + 4 + 5 + 4 + 2 + 4 + 3 cases over 9 parsed files; malformed.xml is not counted
    assert.match(agent, /^warning: \/home\/circleci\/project\/results\/malformed\.xml: malformed XML at line 6, column \d+: .*; skipped$/m);
    assert.match(agent, /^36 tests, 7 failures, 3 errors, 6 skipped in \d+\.\d{3}s \(9 result files\)$/m);
    assert.match(agent, /^ {2}FAIL {2}rspec \/ spec\.models\.cart_spec > Cart#total sums the prices {2}\(\.\/spec\/models\/cart_spec\.rb\)$/m);
    assert.match(agent, /^ {2}ERROR com\.acme\.shop\.CartTest > connectsToInventory$/m);
    assert.match(agent, /^ {8}Connection refused$/m);
    assert.match(agent, /^Recorded timings for job test: \d+ files, \d+ classes, \d+ test names$/m);
    assert.doesNotMatch(agent, /notes\.txt/);

    const [summary] = await readTestResults(store, st.jobRunId);
    assert.equal(summary.path, `${WD}/results`);
    assert.equal(summary.tests, 36);
    assert.equal(summary.files.length, 10);
    const raw = (await store.list(testResultsPrefix(st.jobRunId))).map((b) => b.key.replace(/^.*\/files\//, '')).filter((k) => !k.endsWith('summary.json'));
    assert.deepEqual(raw.sort(), [
      'go-junit-report.xml',
      'jest-junit.xml',
      'malformed.xml',
      'mocha-junit-reporter.xml',
      'nested.xml',
      'pytest-xunit1.xml',
      'pytest-xunit2.xml',
      'rspec.xml',
      'surefire/TEST-com.acme.shop.CartTest.xml',
      'surefire/TEST-com.acme.shop.PriceTest.xml',
    ]);
    const rspecKey = (await store.list(testResultsPrefix(st.jobRunId))).find((b) => b.key.endsWith('/files/rspec.xml'))?.key;
    const stored = rspecKey ? await store.get(rspecKey) : undefined;
    assert.ok(stored, 'rspec.xml is stored');
    assert.equal((await readAll(stored)).toString('utf8'), await readFile(path.join(FIXTURES, 'rspec.xml'), 'utf8'));

    const timings = new Map((await loadTimings(st)).map((r) => [`${r.type} ${r.name}`, r.seconds]));
    assert.equal(timings.get('file spec/models/cart_spec.rb'), 1.554);
    assert.equal(timings.get('file test/api.spec.js'), 1.015, 'mocha writes absolute paths: made relative to the working directory');
    assert.equal(timings.get('classname com.acme.shop.CartTest'), 1234.517);
    assert.equal(timings.get('testname TestTotal/with_discount'), 0.73);
  });

  it('a single file, relative to the working directory', async () => {
    const { result, agent, store, storage: st } = await runStep('results/pytest-xunit1.xml');
    assert.equal(result.status, 'success');
    assert.match(agent, /^5 tests, 1 failure, 1 error, 1 skipped in 3\.474s \(1 result file\)$/m);
    assert.match(agent, /^ {8}AssertionError: assert 500 == 201$/m);
    assert.equal((await readTestResults(store, st.jobRunId))[0].path, `${WD}/results/pytest-xunit1.xml`);
  });

  it('a missing path or a folder without XML: a warning, the step succeeds, nothing stored', async () => {
    for (const [p, warning] of [
      ['no/such/dir', /^warning: no test results stored: \/home\/circleci\/project\/no\/such\/dir does not exist in the primary container; /m],
      ['empty', /^warning: no test results stored: no JUnit XML files \(\*\.xml\) under \/home\/circleci\/project\/empty$/m],
    ] as const) {
      const { result, agent, store, storage: st } = await runStep(p);
      assert.deepEqual(result, { status: 'success' }, p);
      assert.match(agent, warning);
      assert.deepEqual(await store.list(''), [], p);
      assert.deepEqual(await loadTimings(st), []);
    }
  });

  it('only a malformed file: warned and stored raw, zero tests, the step succeeds', async () => {
    const { result, agent, store, storage: st } = await runStep(`${WD}/results/malformed.xml`);
    assert.equal(result.status, 'success');
    assert.match(agent, /malformed XML at line 6/);
    assert.match(agent, /^0 tests, 0 failures, 0 errors, 0 skipped in 0\.000s \(0 result files\)$/m);
    assert.equal((await store.list(testResultsPrefix(st.jobRunId))).length, 2);
  });

  it('a file too large to parse is streamed into the store and warned about', async () => {
    const { result, agent, store, storage: st } = await runStep('/tmp/huge.xml');
    assert.equal(result.status, 'success');
    assert.match(agent, /^warning: \/tmp\/huge\.xml: 32\.4 MB is too large to read \(the limit is 32\.0 MB\); stored, not counted$/m);
    const raw = (await store.list(testResultsPrefix(st.jobRunId))).find((b) => b.key.endsWith('/files/huge.xml'));
    assert.equal(raw?.size, 34000000);
  });

  it('after an earlier failed step: results stored, timings not recorded (as on CircleCI)', async () => {
    const { result, agent, store, storage: st } = await runStep('results/rspec.xml', { jobFailed: true });
    assert.equal(result.status, 'success');
    assert.match(agent, /^Timings not recorded: an earlier step failed/m);
    assert.equal((await readTestResults(store, st.jobRunId)).length, 1);
    assert.deepEqual(await loadTimings(st), []);
  });

  it('deliverTimings writes the merged timings into the task-data folder; none stored, no file', async () => {
    const { storage: st } = await runStep('results/rspec.xml');
    const out = { agent: '' };
    const sink = { write: (_s: string, d: Buffer | string) => void (out.agent += String(d)) };
    assert.equal(await deliverTimings(executor, st, '/tmp/task-data', sink), 8);
    const file = await collect(executor.exec({ command: ['cat', '/tmp/task-data/test-timings.tsv'] }));
    assert.equal(
      file.stdout,
      [
        'file\tspec/models/cart_spec.rb\t1.554',
        'file\tspec/requests/items_spec.rb\t0.55',
        'classname\tspec.models.cart_spec\t1.554',
        'classname\tspec.requests.items_spec\t0.55',
        'testname\tCart#add adds an item\t0.042',
        'testname\tCart#total sums the prices\t1.512',
        'testname\tGET /items lists the items\t0.55',
        'testname\tGET /items paginates\t0',
        '',
      ].join('\n'),
    );
    const none = storage();
    assert.equal(await deliverTimings(executor, none.storage, '/tmp/task-data-2', sink), 0);
    assert.equal((await collect(executor.exec({ command: ['ls', '/tmp/task-data-2'] }))).exitCode, 1);
    assert.equal(out.agent, '');
  });
});
