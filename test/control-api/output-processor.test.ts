/**
 * `deckhand serve --output-processor`: jobs stream their output to an output processor of their
 * own (a real `deckhand output-processor` child process), which stores it byte for byte, while the
 * API still answers the job's masked output and links its live page there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProcessorProcess } from '../support/processor-process.js';
import { jobNamed, oneJobConfig, ServeProcess } from '../support/serve-process.js';

describe('deckhand serve with an output processor elsewhere', () => {
  let processor: ProcessorProcess;
  let serve: ServeProcess;
  let token: string;

  before(async () => {
    processor = await ProcessorProcess.start();
    serve = await ServeProcess.start(['--output-processor', processor.target, '--output-secret-file', processor.secretFile, '--output-url', processor.http]);
    token = serve.token('submit');
  });
  after(async () => {
    await serve?.stop();
    await processor?.stop();
  });

  test('the job streams there, and the API links its page there', async () => {
    const config = oneJobConfig('talk', ['for i in 1 2 3; do echo "line $i"; done']);
    const id = await serve.submit(token, config);
    const done = await serve.waitFor(token, id, (p) => p.workflows[0].status !== 'running');
    const talk = jobNamed(done, 'talk');
    assert.equal(talk.status, 'success');
    const job = await serve.request<{ nodes: { run_id: string; live_url: string }[] }>('GET', `/api/v1/jobs/${talk.id}`, { token });
    const runId = job.body.nodes[0].run_id;
    assert.equal(job.body.nodes[0].live_url, `${processor.http}/jobs/${runId}`);
    // the processor has the run's step output byte for byte, and says it is complete
    assert.equal((await processor.output(runId, 0)).toString(), 'line 1\nline 2\nline 3\n');
    const stored = (await processor.job(runId)) as { status: string; finished?: { status: string } };
    assert.deepEqual([stored.status, stored.finished?.status], ['complete', 'success'], JSON.stringify(stored));
    const out = await serve.request('GET', `/api/v1/jobs/${talk.id}/output`, { token });
    assert.match(out.text, /line 1\nline 2\nline 3/);
    assert.equal(out.headers.get('link'), `<${processor.http}/jobs/${runId}>; rel="alternate"; type="text/html"`);
  });
});
