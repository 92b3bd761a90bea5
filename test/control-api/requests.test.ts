/**
 * The control API's refusals, over real HTTP against a real `deckhand serve`: missing, malformed,
 * unknown and under-scoped tokens (each audited), bodies that are not JSON, too large or of the
 * wrong shape, configs that do not compile (422 with `deckhand config validate`'s positioned
 * lines), unknown routes and ids. Every refusal is JSON with one line saying what and how to fix.
 * No job runs here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ServeProcess } from '../support/serve-process.js';

describe('deckhand serve: bad requests', () => {
  let serve: ServeProcess;
  let read: string;
  let submit: string;
  let admin: string;

  before(async () => {
    serve = await ServeProcess.start();
    read = serve.token('read', 'reader');
    submit = serve.token('submit', 'ci');
    admin = serve.token('admin', 'ops');
  });
  after(async () => serve.stop());

  const oneLine = (body: unknown): string => {
    assert.equal(typeof body, 'object');
    const error = (body as { error?: unknown }).error;
    assert.equal(typeof error, 'string', `no error line in ${JSON.stringify(body)}`);
    assert.ok(!(error as string).includes('\n') && !(error as string).includes('    at '), `not one line: ${error as string}`);
    return error as string;
  };

  test('the health check needs no token; everything else does', async () => {
    assert.equal((await serve.request('GET', '/health-check')).status, 200);
    for (const path of ['/status', '/metrics', '/api/v1/pipelines', '/api/v1/audit']) {
      const r = await serve.request('GET', path);
      assert.equal(r.status, 401, path);
      assert.match(oneLine(r.body), /Authorization: Bearer TOKEN/);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="deckhand"');
    }
  });

  test('an unknown or malformed token is 401, a token without the scope 403', async () => {
    const wrong = await serve.request('GET', '/api/v1/pipelines', { token: `${read}x` });
    assert.equal(wrong.status, 401);
    assert.match(oneLine(wrong.body), /unknown token/);
    const basic = await serve.request('GET', '/api/v1/pipelines', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(basic.status, 401);
    assert.match(oneLine(basic.body), /not "Bearer TOKEN"/);
    const readSubmits = await serve.request('POST', '/api/v1/pipelines', { token: read, json: { config: 'version: 2.1' } });
    assert.equal(readSubmits.status, 403);
    assert.equal(oneLine(readSubmits.body), 'this token has scope read; this route needs submit');
    const submitAudits = await serve.request('GET', '/api/v1/audit', { token: submit });
    assert.equal(submitAudits.status, 403);
    assert.equal((await serve.request('POST', '/api/v1/drain', { token: submit })).status, 403);
    // a read token reads
    assert.equal((await serve.request('GET', '/api/v1/pipelines', { token: read })).status, 200);
  });

  test('bodies: not JSON, the wrong type, too large, the wrong shape', async () => {
    const notJson = await serve.request('POST', '/api/v1/pipelines', { token: submit, body: '{"config": ', headers: { 'content-type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.match(oneLine(notJson.body), /^the body is not valid JSON/);
    const form = await serve.request('POST', '/api/v1/pipelines', { token: submit, body: 'config=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 415);
    assert.match(oneLine(form.body), /send Content-Type: application\/json/);
    const huge = await serve.request('POST', '/api/v1/pipelines', { token: submit, json: { config: 'x'.repeat(5 * 1048576) } });
    assert.equal(huge.status, 413);
    assert.match(oneLine(huge.body), /at most \d+ are taken/);
    const cases: [unknown, RegExp][] = [
      [[], /must be a JSON object/],
      [{}, /either "config" .* or "repository"/],
      [{ config: 'a', repository: 'b', revision: 'c' }, /not both or neither/],
      [{ repository: 'file:///nowhere' }, /"repository" needs "revision"/],
      [{ config: 'a', branch: 'main', tag: 'v1' }, /"branch" or "tag", not both/],
      [{ config: 'a', parameters: { deploy: [1] } }, /pipeline parameter "deploy" must be a string, number or boolean/],
      [{ config: 'a', colour: 'blue' }, /unknown field "colour"; a pipeline takes config, repository/],
      [{ config: 5 }, /"config" must be a non-empty string/],
    ];
    for (const [json, expected] of cases) {
      const r = await serve.request('POST', '/api/v1/pipelines', { token: submit, json });
      assert.equal(r.status, 400, JSON.stringify(json));
      assert.match(oneLine(r.body), expected);
    }
  });

  test('a config that does not compile is 422 with its FILE:LINE:COL problems', async () => {
    const config = 'version: 2.1\njobs:\n  build:\n    docker: [{image: deckhand-test/busybox:latest}]\n    stepz: []\nworkflows:\n  w:\n    jobs: [build, tset]\n';
    const r = await serve.request<{ error: string; problems: string[] }>('POST', '/api/v1/pipelines', { token: submit, json: { config } });
    assert.equal(r.status, 422);
    assert.match(oneLine(r.body), /the config does not compile \(\d+ problems?\)/);
    assert.ok(r.body.problems.length >= 2, r.text);
    for (const line of r.body.problems) assert.match(line, /^\.circleci\/config\.yml:\d+:\d+: /);
    assert.ok(r.body.problems.some((l) => l.startsWith('.circleci/config.yml:5:5:')), r.text);
    // nothing of it was stored
    const list = await serve.request<{ items: unknown[] }>('GET', '/api/v1/pipelines', { token: read });
    assert.equal(list.body.items.length, 0);
  });

  test('a repository that cannot be cloned is 422 saying so', async () => {
    const r = await serve.request('POST', '/api/v1/pipelines', { token: submit, json: { repository: '/nonexistent/repo.git', revision: 'main' } });
    assert.equal(r.status, 422);
    assert.match(oneLine(r.body), /^cannot clone \/nonexistent\/repo\.git: .*check the repository URL/);
  });

  test('unknown routes, methods and ids', async () => {
    const route = await serve.request('GET', '/api/v1/nothing', { token: read });
    assert.equal(route.status, 404);
    assert.match(oneLine(route.body), /docs\/control-api\.md/);
    const method = await serve.request('DELETE', '/api/v1/jobs/00000000-0000-0000-0000-000000000000', { token: admin });
    assert.equal(method.status, 405);
    const badId = await serve.request('GET', '/api/v1/jobs/42', { token: read });
    assert.equal(badId.status, 400);
    assert.match(oneLine(badId.body), /is not a job id/);
    const missing = await serve.request('POST', '/api/v1/jobs/00000000-0000-0000-0000-000000000000/cancel', { token: submit });
    assert.equal(missing.status, 404);
    const since = await serve.request('GET', '/api/v1/audit?since=yesterday', { token: admin });
    assert.equal(since.status, 400);
    assert.match(oneLine(since.body), /ISO-8601/);
  });

  test('every refusal of a token is in the audit log, and no token is', async () => {
    const r = await serve.request<{ items: { action: string; success: boolean; actor: { id: string; type: string }; payload: { status: number } }[] }>('GET', '/api/v1/audit', { token: admin });
    assert.equal(r.status, 200);
    const refused = r.body.items.filter((e) => e.action === 'token.use.refuse');
    assert.ok(refused.some((e) => e.actor.id === 'anonymous' && e.payload.status === 401));
    assert.ok(refused.some((e) => e.actor.id === 'reader' && e.actor.type === 'token:read' && e.payload.status === 403));
    assert.ok(refused.every((e) => e.success === false));
    for (const t of [read, submit, admin]) {
      assert.ok(!r.text.includes(t), 'a token is in the audit log');
      assert.ok(!serve.log.includes(t), 'a token is in the service log');
    }
  });

  // last: a drained service takes nothing new
  test('drain: no new pipelines (503), the drain audited, SIGTERM then ends the service with 0', async () => {
    const drained = await serve.request<{ draining: boolean }>('POST', '/api/v1/drain', { token: admin });
    assert.equal(drained.status, 202);
    assert.equal(drained.body.draining, true);
    const refused = await serve.request('POST', '/api/v1/pipelines', { token: submit, json: { config: 'version: 2.1' } });
    assert.equal(refused.status, 503);
    assert.match(oneLine(refused.body), /draining/);
    const audit = await serve.request<{ items: { action: string; actor: { id: string } }[] }>('GET', '/api/v1/audit', { token: admin });
    assert.ok(audit.body.items.some((e) => e.action === 'service.drain' && e.actor.id === 'ops'));
    const child = serve.child!;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
