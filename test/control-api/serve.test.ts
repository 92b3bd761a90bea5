/**
 * `deckhand serve` end to end: a real service process, real HTTP, a real Docker engine running the
 * jobs. A fan-out/fan-in workflow with a parallel job and an approval followed to its end
 * (statuses, steps, outputs, artifacts, test results, metrics, audit lines field by field); a
 * running job canceled with nothing left on the engine; the web page in headless Chromium.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../../agent/control-api/audit.js';
import { BUSYBOX, project } from '../support/execute.js';
import { containersOf, jobNamed, ServeProcess } from '../support/serve-process.js';

const FAN = `version: 2.1
executors:
  bb:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
jobs:
  build:
    executor: bb
    steps:
      - run: echo building at $CIRCLE_BRANCH
      - run: mkdir -p out results && echo report > out/report.txt && printf '<testsuite name="s" tests="1"><testcase classname="c" name="t" time="0.1"/></testsuite>' > results/junit.xml
      - store_artifacts: {path: out, destination: out}
      - store_test_results: {path: results}
  test:
    executor: bb
    parallelism: 2
    steps:
      - run: echo testing node $CIRCLE_NODE_INDEX of $CIRCLE_NODE_TOTAL
  lint:
    executor: bb
    steps:
      - run: echo linting
  deploy:
    executor: bb
    steps:
      - run: echo deploying
workflows:
  fan:
    jobs:
      - build
      - test: {requires: [build]}
      - lint: {requires: [build]}
      - hold: {type: approval, requires: [test, lint]}
      - deploy: {requires: [hold]}
`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('deckhand serve: workflows over HTTP', () => {
  let serve: ServeProcess;
  let submit: string;
  let admin: string;

  before(async () => {
    serve = await ServeProcess.start();
    submit = serve.token('submit', 'ci-bot');
    admin = serve.token('admin', 'ops');
  });
  after(async () => serve.stop());

  test('a fan-out/fan-in workflow with an approval, followed to its end', async () => {
    const started = new Date().toISOString();
    const id = await serve.submit(submit, FAN, { branch: 'feature/x' });
    assert.match(id, UUID);
    const held = await serve.waitFor(submit, id, (p) => jobNamed(p, 'hold').status === 'on_hold');
    for (const name of ['build', 'test', 'lint']) assert.equal(jobNamed(held, name).status, 'success', name);
    assert.equal(jobNamed(held, 'deploy').status, 'blocked');
    assert.equal(held.workflows[0].status, 'on_hold');

    // deploy waits for the approval, then runs
    const hold = jobNamed(held, 'hold');
    const approved = await serve.request('POST', `/api/v1/jobs/${hold.id}/approve`, { token: submit, headers: { 'x-request-id': 'approve-1' } });
    assert.equal(approved.status, 202, approved.text);
    const again = await serve.request('POST', `/api/v1/jobs/${hold.id}/approve`, { token: submit });
    assert.equal(again.status, 409);
    const done = await serve.waitFor(submit, id, (p) => p.workflows[0].status !== 'running' && p.workflows[0].status !== 'on_hold');
    assert.equal(done.workflows[0].status, 'success', JSON.stringify(done));
    assert.equal(done.state, 'created');
    for (const j of done.workflows[0].jobs) assert.equal(j.status, 'success', j.name);
    // the listings CircleCI's API v2 has: a pipeline's workflows, a workflow's jobs
    const workflows = await serve.request<{ items: { id: string; name: string; status: string; pipeline_number: number }[] }>('GET', `/api/v1/pipelines/${id}/workflow`, { token: submit });
    assert.deepEqual(workflows.body.items.map((w) => [w.name, w.status, w.pipeline_number]), [['fan', 'success', done.number]]);
    const jobs = await serve.request<{ items: { name: string; status: string }[] }>('GET', `/api/v1/workflows/${workflows.body.items[0].id}/job`, { token: submit });
    assert.deepEqual(jobs.body.items.map((j) => j.name), ['build', 'test', 'lint', 'hold', 'deploy']);

    // the parallel job: two nodes, each with its steps, exit codes and durations
    const test = await serve.request<{ nodes: { index: number; run_id: string; status: string; exit_code: number; ran_on: string; steps: { name: string; status: string; exit_code: number | null; duration_ms: number }[] }[]; parallelism: number }>('GET', `/api/v1/jobs/${jobNamed(done, 'test').id}`, { token: submit });
    assert.equal(test.body.parallelism, 2);
    assert.deepEqual(test.body.nodes.map((n) => [n.index, n.status, n.exit_code, n.ran_on]), [[0, 'success', 0, 'local'], [1, 'success', 0, 'local']]);
    const step = test.body.nodes[1].steps.find((s) => s.name.startsWith('echo testing'));
    assert.ok(step && step.status === 'success' && step.exit_code === 0 && step.duration_ms >= 0, JSON.stringify(test.body.nodes[1]));
    const output = await serve.request('GET', `/api/v1/jobs/${jobNamed(done, 'test').id}/output`, { token: submit });
    assert.equal(output.status, 200);
    assert.match(output.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(output.text, /testing node 0 of 2/);
    assert.match(output.text, /testing node 1 of 2/);
    const one = await serve.request('GET', `/api/v1/jobs/${jobNamed(done, 'test').id}/output?node=1`, { token: submit });
    assert.ok(one.text.includes('testing node 1 of 2') && !one.text.includes('testing node 0 of 2'));
    assert.match(output.headers.get('link') ?? '', /^<http:\/\/127\.0\.0\.1:\d+\/jobs\/[0-9a-f-]+>; rel="alternate"/);
    const build = jobNamed(done, 'build').id;
    assert.match((await serve.request('GET', `/api/v1/jobs/${build}/output`, { token: submit })).text, /building at feature\/x/);

    // artifacts and test results of the build job
    const artifacts = await serve.request<{ items: { path: string; size: number }[] }>('GET', `/api/v1/jobs/${build}/artifacts`, { token: submit });
    assert.deepEqual(artifacts.body.items.map((a) => [a.path, a.size]), [['out/report.txt', 7]]);
    const tests = await serve.request<{ items: { results: { tests: number }[] }[] }>('GET', `/api/v1/jobs/${build}/tests`, { token: submit });
    assert.equal(tests.status, 200, tests.text);
    assert.equal(tests.body.items[0].results.length, 1, tests.text);

    // metrics: the job counts, histograms by class and status, steps, output bytes
    const metrics = await serve.request('GET', '/metrics', { token: submit });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^deckhand_jobs\{state="complete"\} 5$/m);
    assert.match(metrics.text, /^deckhand_jobs\{state="running"\} 0$/m);
    assert.match(metrics.text, /^deckhand_job_duration_seconds_count\{resource_class="small",status="success"\} 5$/m);
    assert.match(metrics.text, /^deckhand_job_queue_seconds_count\{resource_class="small",status="success"\} 5$/m);
    assert.match(metrics.text, /^deckhand_steps_total\{status="success"\} \d+$/m);
    assert.match(metrics.text, /^deckhand_output_bytes_total [1-9]\d*$/m);
    assert.match(metrics.text, /^deckhand_capacity_cpus_used 0$/m);

    // the audit trail, field by field
    const audit = await serve.request<{ items: AuditEvent[] }>('GET', `/api/v1/audit?since=${encodeURIComponent(started)}`, { token: admin });
    assert.equal(audit.status, 200);
    const mine = audit.body.items.filter((e) => e.target.id === id || done.workflows[0].jobs.some((j) => j.id === e.target.id));
    for (const e of mine) {
      assert.match(e.id, UUID);
      assert.equal(e.version, 1);
      assert.match(e.action, /^[a-z]+(\.[a-z]+)+$/);
      assert.ok(e.actor.id && e.actor.type && e.target.id && e.target.type, JSON.stringify(e));
      assert.match(e.occurred_at, ISO);
      assert.deepEqual(e.scope, { id: 'deckhand', type: 'organization' });
      assert.equal(typeof e.success, 'boolean');
      assert.ok(e.request.id);
      assert.equal(typeof e.metadata, 'object');
      assert.equal(typeof e.payload, 'object');
    }
    const actions = (action: string) => mine.filter((e) => e.action === action);
    assert.equal(actions('project.pipeline.create').length, 1);
    assert.deepEqual(actions('project.pipeline.create')[0].actor, { id: 'ci-bot', type: 'token:submit' });
    assert.equal(actions('workflow.job.schedule').length, 4);
    assert.equal(actions('workflow.job.start').length, 5);
    assert.equal(actions('workflow.job.finish').length, 5);
    assert.ok(actions('workflow.job.finish').every((e) => e.success && e.payload.status === 'success' && e.actor.type === 'service'));
    const approve = actions('workflow.job.approve');
    assert.equal(approve.length, 1);
    assert.deepEqual([approve[0].actor.id, approve[0].target, approve[0].request.id], ['ci-bot', { id: hold.id, type: 'job' }, 'approve-1']);
    // deploy started only after the approval
    const deployStart = actions('workflow.job.start').find((e) => e.payload.name === 'deploy')!;
    assert.ok(Date.parse(deployStart.occurred_at) >= Date.parse(approve[0].occurred_at));
    // reading the audit log is itself audited, and the CSV export has the same events
    const csv = await serve.request('GET', `/api/v1/audit?since=${encodeURIComponent(started)}&format=csv`, { token: admin });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const rows = csv.text.trim().split('\r\n');
    assert.equal(rows[0], 'id,version,action,actor_id,actor_type,target_id,target_type,payload,occurred_at,scope_id,scope_type,success,request_id,metadata');
    assert.ok(rows.some((r) => r.includes(',workflow.job.approve,ci-bot,token:submit,')));
    assert.ok(rows.some((r) => r.includes(',audit.log.access,ops,token:admin,')));
  });

  test('a running job canceled: its containers removed, what needs it not run', async () => {
    const config = `version: 2.1
jobs:
  slow:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
    steps: [{run: "echo started-slow; sleep 300"}]
  after:
    docker: [{image: ${BUSYBOX}}]
    steps: [{run: echo never}]
workflows:
  w:
    jobs: [slow, {after: {requires: [slow]}}]
`;
    const id = await serve.submit(submit, config);
    const running = await serve.waitFor(submit, id, (p) => jobNamed(p, 'slow').status === 'running');
    const slow = jobNamed(running, 'slow');
    // wait until its step runs (its output is there)
    const until = Date.now() + 60_000;
    while (!(await serve.request('GET', `/api/v1/jobs/${slow.id}/output`, { token: submit })).text.includes('started-slow')) {
      assert.ok(Date.now() < until, 'the slow step never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const job = await serve.request<{ nodes: { run_id: string }[]; workflow_id: string }>('GET', `/api/v1/jobs/${slow.id}`, { token: submit });
    const runId = job.body.nodes[0].run_id;
    assert.equal(await containersOf(job.body.workflow_id, runId), 1);
    const t0 = Date.now();
    const canceled = await serve.request('POST', `/api/v1/jobs/${slow.id}/cancel`, { token: submit });
    assert.equal(canceled.status, 202, canceled.text);
    const end = await serve.waitFor(submit, id, (p) => p.workflows[0].status !== 'running', 60_000);
    assert.ok(Date.now() - t0 < 30_000, 'the cancel took longer than the kill grace');
    assert.equal(jobNamed(end, 'slow').status, 'canceled');
    assert.equal(jobNamed(end, 'after').status, 'not_run');
    assert.match(jobNamed(end, 'after').reason ?? '', /slow ended canceled/);
    assert.equal(end.workflows[0].status, 'canceled');
    assert.equal(await containersOf(job.body.workflow_id, runId), 0);
    const again = await serve.request('POST', `/api/v1/jobs/${slow.id}/cancel`, { token: submit });
    assert.equal(again.status, 409);
    assert.match((again.body as { error: string }).error, /already ended \(canceled\)/);
  });

  test('a failed workflow rerun from failed: the success kept with its workspace, the failure run again', async () => {
    // test fails in the workflow build ran in, and passes in a rerun (another CIRCLE_WORKFLOW_ID)
    // only if it still attaches the workspace build persisted in the first run
    const config = `version: 2.1
jobs:
  build:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
    steps:
      - run: mkdir -p ws && echo "$CIRCLE_WORKFLOW_ID" > ws/first
      - persist_to_workspace: {root: ws, paths: [first]}
  test:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
    steps:
      - attach_workspace: {at: ws}
      - run: echo "built in $(cat ws/first), testing in $CIRCLE_WORKFLOW_ID"; [ "$(cat ws/first)" != "$CIRCLE_WORKFLOW_ID" ]
workflows:
  w:
    jobs: [build, {test: {requires: [build]}}]
`;
    const id = await serve.submit(submit, config);
    const first = await serve.waitFor(submit, id, (p) => p.workflows[0].status !== 'running');
    assert.equal(first.workflows[0].status, 'failed');
    assert.deepEqual(first.workflows[0].jobs.map((j) => [j.name, j.status]), [['build', 'success'], ['test', 'failed']]);
    const wf = first.workflows[0].id;
    const notFromSuccess = await serve.request('POST', `/api/v1/workflows/${wf}/rerun`, { token: submit, json: { from_failed: 'yes' } });
    assert.equal(notFromSuccess.status, 400);
    const rerun = await serve.request<{ id: string; rerun_of: string; jobs: { name: string; status: string }[] }>('POST', `/api/v1/workflows/${wf}/rerun`, { token: submit, json: { from_failed: true } });
    assert.equal(rerun.status, 201, rerun.text);
    assert.equal(rerun.body.rerun_of, wf);
    const done = await serve.waitFor(submit, id, (p) => p.workflows.length === 2 && p.workflows[1].status !== 'running');
    const second = done.workflows.find((w) => w.id === rerun.body.id)!;
    assert.equal(second.status, 'success', JSON.stringify(done));
    assert.deepEqual(second.jobs.map((j) => [j.name, j.status]), [['build', 'success'], ['test', 'success']]);
    const out = await serve.request('GET', `/api/v1/jobs/${second.jobs[1].id}/output`, { token: submit });
    assert.match(out.text, new RegExp(`built in ${wf}, testing in ${rerun.body.id}`));
    // build did not run again; the rerun is audited
    const audit = await serve.request<{ items: AuditEvent[] }>('GET', '/api/v1/audit', { token: admin });
    assert.equal(audit.body.items.filter((e) => e.action === 'workflow.job.start' && e.payload.name === 'build' && (e.target.id === second.jobs[0].id)).length, 0);
    const line = audit.body.items.find((e) => e.action === 'workflow.rerun' && e.target.id === wf);
    assert.ok(line && line.payload.new_workflow_id === rerun.body.id && line.payload.from_failed === true && line.actor.id === 'ci-bot');
    // a successful workflow does not rerun from failed
    const again = await serve.request('POST', `/api/v1/workflows/${rerun.body.id}/rerun`, { token: submit, json: { from_failed: true } });
    assert.equal(again.status, 409);
    assert.match((again.body as { error: string }).error, /only a failed workflow reruns from failed/);
  });

  test('project and context variables: stored, shown masked, read by jobs, masked in their output, audited', async () => {
    const projectValue = "pr0ject-Value$HOME 'q' #1";
    const contextValue = 'ctx-deploy-key-9876';
    const put = await serve.request('POST', '/api/v1/projects/shop/envvar', { token: admin, json: { name: 'PROJECT_TOKEN', value: projectValue } });
    assert.equal(put.status, 201, put.text);
    assert.deepEqual(put.body, { name: 'PROJECT_TOKEN', value: 'xxxx' + projectValue.slice(-4) });
    assert.equal((await serve.request('PUT', '/api/v1/contexts/deploy-keys/environment-variable/DEPLOY_KEY', { token: admin, json: { value: contextValue } })).status, 200);
    assert.equal((await serve.request('PUT', '/api/v1/contexts/deploy-keys/environment-variable/GONE', { token: admin, json: { value: 'to-be-deleted' } })).status, 200);
    assert.equal((await serve.request('DELETE', '/api/v1/contexts/deploy-keys/environment-variable/GONE', { token: admin })).status, 200);
    assert.equal((await serve.request('POST', '/api/v1/projects/shop/envvar', { token: submit, json: { name: 'X', value: 'y' } })).status, 403);
    assert.equal((await serve.request('POST', '/api/v1/projects/shop/envvar', { token: admin, json: { name: '1BAD', value: 'y' } })).status, 400);
    const listed = await serve.request<{ items: { variable: string; value: string }[] }>('GET', '/api/v1/contexts/deploy-keys/environment-variable', { token: admin });
    assert.deepEqual(listed.body.items.map((v) => [v.variable, v.value]), [['DEPLOY_KEY', 'xxxx9876']]);

    const config = `version: 2.1
jobs:
  show:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
    steps:
      - run: echo "p=$PROJECT_TOKEN c=$DEPLOY_KEY"; printf '%s' "$PROJECT_TOKEN" | md5sum
workflows:
  w:
    jobs: [{show: {context: [deploy-keys]}}]
`;
    const id = await serve.submit(submit, config, { project: 'shop' });
    const done = await serve.waitFor(submit, id, (p) => p.workflows[0].status !== 'running');
    assert.equal(jobNamed(done, 'show').status, 'success', JSON.stringify(done));
    const out = await serve.request('GET', `/api/v1/jobs/${jobNamed(done, 'show').id}/output`, { token: submit });
    assert.match(out.text, /p=\*{8} c=\*{8}/);
    // the value went into the job byte for byte ($, quotes, #)
    assert.ok(out.text.includes(createHash('md5').update(projectValue).digest('hex')), out.text);
    const audit = await serve.request<{ items: AuditEvent[] }>('GET', '/api/v1/audit', { token: admin });
    const actions = audit.body.items.map((e) => e.action);
    for (const a of ['project.env_var.create', 'context.env_var.store', 'context.env_var.delete', 'context.env_var.access']) assert.ok(actions.includes(a), a);
    // a context nobody stored variables in fails the job (not the environment), saying where it looked
    const missing = await serve.submit(submit, config.replace('context: [deploy-keys]', 'context: [nope]'), { project: 'shop' });
    const failed = await serve.waitFor(submit, missing, (p) => p.workflows[0].status !== 'running');
    assert.equal(jobNamed(failed, 'show').status, 'failed');
    assert.match(jobNamed(failed, 'show').reason ?? '', /context "nope" is not in .*contexts: expected the file .*nope\.env/);
    for (const value of [projectValue, contextValue, 'to-be-deleted']) {
      assert.ok(!audit.text.includes(value) && !serve.log.includes(value), 'a value is in the audit log or the service log');
    }
  });

  test('a pipeline from a repository at a revision: cloned, checked out, its config and files used', async () => {
    const config = `version: 2.1
jobs:
  from-repo:
    docker: [{image: ${BUSYBOX}}]
    resource_class: small
    steps:
      - checkout
      - run: echo "file says $(cat notes.txt) at $CIRCLE_SHA1 on $CIRCLE_BRANCH"
workflows:
  w:
    jobs: [from-repo]
`;
    const repo = project(config, { 'notes.txt': 'first-version' });
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
    const first = git('rev-parse', 'HEAD');
    writeFileSync(join(repo, 'notes.txt'), 'second-version');
    git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qam', 'second');
    try {
      // the older revision, on a branch named by the request
      const id = await serve.submit(submit, '', { repository: repo, revision: first, branch: 'release' });
      const done = await serve.waitFor(submit, id, (p) => p.workflows[0].status !== 'running');
      assert.equal(jobNamed(done, 'from-repo').status, 'success', JSON.stringify(done));
      const out = await serve.request('GET', `/api/v1/jobs/${jobNamed(done, 'from-repo').id}/output`, { token: submit });
      assert.match(out.text, new RegExp(`file says first-version at ${first} on release`));
      const p = await serve.request<{ vcs: { revision: string; branch: string; origin_repository_url: string } }>('GET', `/api/v1/pipelines/${id}`, { token: submit });
      assert.deepEqual([p.body.vcs.revision, p.body.vcs.branch, p.body.vcs.origin_repository_url], [first, 'release', repo]);
      const missing = await serve.request('POST', '/api/v1/pipelines', { token: submit, json: { repository: repo, revision: 'no-such-branch' } });
      assert.equal(missing.status, 422);
      assert.match((missing.body as { error: string }).error, /has no revision no-such-branch/);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test('the web page lists jobs with their status, in headless Chromium', async () => {
    const { chromium } = await import('playwright-core');
    const read = serve.token('read');
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const res = await page.goto(`${serve.url}/?token=${read}`);
      assert.equal(res?.status(), 200);
      const cells = await page.$$eval('#jobs tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      assert.ok(cells.some((c) => c[2] === 'deploy' && c[3] === 'success'), JSON.stringify(cells));
      assert.ok(cells.some((c) => c[2] === 'slow' && c[3] === 'canceled'), JSON.stringify(cells));
      const link = await page.$$eval('#jobs tbody tr', (trs) => (trs.find((tr) => tr.querySelectorAll('td')[2]?.textContent === 'deploy')?.querySelector('a') as HTMLAnchorElement | null)?.href ?? '');
      assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/jobs\/[0-9a-f-]+$/);
      // the link leads to the job's live page at the in-process output processor
      const live = await page.goto(link);
      assert.equal(live?.status(), 200);
    } finally {
      await browser.close();
    }
  });
});

/** installed by scripts/ensure-test-tools.sh, as for the output processor's page test */
function chromiumPath(): string {
  return '/usr/bin/chromium';
}
