/**
 * 50 pipelines submitted at once to a `deckhand serve` with room for one job at a time: every one
 * is answered 201, none is lost, all run, one at a time, in the order they were numbered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { oneJobConfig, ServeProcess, type PipelineJson } from '../support/serve-process.js';

const SUBMISSIONS = 50;

describe('deckhand serve: a burst of submissions with room for one job', () => {
  let serve: ServeProcess;
  let token: string;

  before(async () => {
    serve = await ServeProcess.start(['--max-parallel', '1']);
    token = serve.token('submit');
  });
  after(async () => serve.stop());

  test(`${SUBMISSIONS} at once: all run, in order, none lost`, async () => {
    const config = (i: number): string => oneJobConfig(`job${i}`, [`echo ran-${i}`]);
    const ids = await Promise.all(Array.from({ length: SUBMISSIONS }, (_, i) => serve.submit(token, config(i))));
    assert.equal(new Set(ids).size, SUBMISSIONS);
    const status = await serve.request<{ running_nodes: number; jobs: Record<string, number> }>('GET', '/status', { token });
    assert.ok(status.body.running_nodes <= 1);
    const done: PipelineJson[] = [];
    for (const id of ids) done.push(await serve.waitFor(token, id, (p) => p.workflows[0].status !== 'running', 300_000));
    for (const p of done) assert.equal(p.workflows[0].jobs[0].status, 'success', JSON.stringify(p));
    // one at a time, in the order of their numbers
    const byNumber = [...done].sort((a, b) => a.number - b.number);
    assert.deepEqual(byNumber.map((p) => p.number), Array.from({ length: SUBMISSIONS }, (_, i) => i + 1));
    for (let i = 1; i < byNumber.length; i++) {
      const before = byNumber[i - 1].workflows[0].jobs[0];
      const now = byNumber[i].workflows[0].jobs[0];
      assert.ok(Date.parse(now.started_at!) >= Date.parse(before.stopped_at!), `pipeline ${byNumber[i].number} started before ${byNumber[i - 1].number} ended`);
    }
    // each ran its own job
    const sample = byNumber[SUBMISSIONS - 1];
    const out = await serve.request('GET', `/api/v1/jobs/${sample.workflows[0].jobs[0].id}/output`, { token });
    assert.match(out.text, new RegExp(`ran-${sample.workflows[0].jobs[0].name.slice(3)}\\b`));
    const metrics = await serve.request('GET', '/metrics', { token });
    assert.match(metrics.text, new RegExp(`^deckhand_jobs\\{state="complete"\\} ${SUBMISSIONS}$`, 'm'));
  });
});
