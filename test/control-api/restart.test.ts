/**
 * `deckhand serve` killed with SIGKILL while a job runs and another waits, then started again on
 * the same data folder: pipelines and jobs are still there, the interrupted job is marked
 * infrastructure_fail with why, its containers are reclaimed, the waiting job and new work run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { containersOf, jobNamed, oneJobConfig, ServeProcess } from '../support/serve-process.js';

const job = (name: string, command: string): string => oneJobConfig(name, [command]);

describe('deckhand serve: restarted while a job runs', () => {
  let serve: ServeProcess;
  let token: string;

  before(async () => {
    serve = await ServeProcess.start(['--max-parallel', '1']);
    token = serve.token('admin');
  });
  after(async () => serve.stop());

  test('state kept, the interrupted job marked, its containers reclaimed, new work runs', async () => {
    const first = await serve.submit(token, job('long', 'echo long-started; sleep 300'));
    const waiting = await serve.submit(token, job('next', 'echo next-ran'));
    const running = await serve.waitFor(token, first, (p) => jobNamed(p, 'long').status === 'running');
    const long = jobNamed(running, 'long');
    const until = Date.now() + 60_000;
    while (!(await serve.request('GET', `/api/v1/jobs/${long.id}/output`, { token })).text.includes('long-started')) {
      assert.ok(Date.now() < until, 'the long step never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(jobNamed(await serve.waitFor(token, waiting, () => true), 'next').status, 'queued');
    const detail = await serve.request<{ workflow_id: string; nodes: { run_id: string }[] }>('GET', `/api/v1/jobs/${long.id}`, { token });
    const runId = detail.body.nodes[0].run_id;

    await serve.kill('SIGKILL');
    // the dead service's container is still there until the next start reclaims it
    assert.equal(await containersOf(detail.body.workflow_id, runId), 1);
    await serve.restart();
    assert.equal(await containersOf(detail.body.workflow_id, runId), 0);

    const after = await serve.waitFor(token, first, (p) => p.workflows[0].status !== 'running');
    const marked = jobNamed(after, 'long');
    assert.equal(marked.status, 'infrastructure_fail');
    assert.match(marked.reason ?? '', /the control API stopped while this job ran \(restarted at \d{4}-/);
    assert.equal(after.workflows[0].status, 'failed');
    assert.ok(marked.stopped_at);
    // what was queued before the kill runs now, and so does new work
    const next = await serve.waitFor(token, waiting, (p) => p.workflows[0].status === 'success');
    assert.equal(jobNamed(next, 'next').status, 'success');
    const fresh = await serve.submit(token, job('fresh', 'echo fresh-ran'));
    const done = await serve.waitFor(token, fresh, (p) => p.workflows[0].status !== 'running');
    assert.equal(jobNamed(done, 'fresh').status, 'success');
    assert.match((await serve.request('GET', `/api/v1/jobs/${jobNamed(done, 'fresh').id}/output`, { token })).text, /fresh-ran/);
    // the log says what was marked; the audit log has the finish with its reason
    assert.match(serve.log, /1 job node was running when the service stopped: marked infrastructure_fail/);
    const audit = await serve.request<{ items: { action: string; target: { id: string }; success: boolean; payload: { status?: string } }[] }>('GET', '/api/v1/audit', { token });
    assert.ok(audit.body.items.some((e) => e.action === 'workflow.job.finish' && e.target.id === long.id && e.payload.status === 'infrastructure_fail' && !e.success));
    const metrics = await serve.request('GET', '/metrics', { token });
    assert.match(metrics.text, /^deckhand_jobs\{state="dead"\} 1$/m);
  });
});
