/**
 * `--http-auth tokens`: the processor's HTTP side wants a read token on every route but the
 * health checks — a job's own, or the all-jobs one for the list — from `authorization: Bearer`
 * or `?token=` (pages, EventSource). Read tokens cannot stream; streaming tokens cannot read;
 * tokens in URLs stay out of the request log. Real servers, real HTTP and gRPC.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { jsonLogger, type Logger } from '../../agent/daemon-log.js';
import { ALL_JOBS, loadSecret, readToken } from '../../agent/processor/tokens.js';
import { packagePath } from '../../agent/package-root.js';
import { join } from 'node:path';
import { get, openFrame, startTestProcessor, streamJob, TestStream, type TestProcessor } from './support.js';

/** A JSON logger whose lines are kept for the test to read. */
function capturingLogger(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const logger = jsonLogger({ write: (line: string) => (text += line) }, 'info');
  return { logger, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('output processor --http-auth tokens', () => {
  let p: TestProcessor;
  let secret: Buffer;
  const log = capturingLogger();
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

  before(async () => {
    p = await startTestProcessor({ httpAuth: 'tokens', logger: log.logger });
    secret = loadSecret(join(p.dataDir, 'secret'), false);
    await streamJob(p, 'job-a', [{ name: 'a', stdout: Buffer.from('output of a\n') }]);
    await streamJob(p, 'job-b', [{ name: 'b', stdout: Buffer.from('output of b\n') }]);
  });
  after(async () => {
    await p?.dispose();
  });

  it('health checks need no token; everything else says how to get one (401), or that this one does not read it (403)', async () => {
    assert.equal((await get(`${p.http}/health-check`)).status, 200);
    for (const path of ['/', '/api/jobs', '/jobs/job-a', '/api/jobs/job-a', '/api/jobs/job-a/steps/0/output', '/api/jobs/job-a/live']) {
      const r = await get(`${p.http}${path}`);
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.match(JSON.parse(r.body.toString()).error as string, /wants a read token .*deckhand output-processor token --read --data DIR/);
    }
    // the streaming token is not a read token, and a job's read token reads that job only
    assert.equal((await get(`${p.http}/api/jobs/job-a`, bearer(p.token('job-a')))).status, 403);
    const other = await get(`${p.http}/api/jobs/job-b`, bearer(readToken(secret, 'job-a')));
    assert.equal(other.status, 403);
    assert.match(JSON.parse(other.body.toString()).error as string, /does not read job job-b/);
    assert.equal((await get(`${p.http}/api/jobs`, bearer(readToken(secret, 'job-a')))).status, 403);
    // a missing job's id is still checked for its token first: no probing for which jobs exist
    assert.equal((await get(`${p.http}/api/jobs/no-such-job`)).status, 401);
  });

  it("a job's read token reads it, by header or query; the all-jobs token reads every job and the list", async () => {
    const a = readToken(secret, 'job-a');
    assert.equal((await get(`${p.http}/api/jobs/job-a/steps/0/output`, bearer(a))).body.toString(), 'output of a\n');
    assert.equal((await get(`${p.http}/api/jobs/job-a/steps/0/output?token=${a}`)).body.toString(), 'output of a\n');
    const page = await get(`${p.http}/jobs/job-a?token=${a}`);
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /TOKEN_QUERY/);
    const all = readToken(secret, ALL_JOBS);
    const list = JSON.parse((await get(`${p.http}/api/jobs?token=${all}`)).body.toString()) as Array<{ id: string }>;
    assert.deepEqual(list.map((j) => j.id).sort(), ['job-a', 'job-b']);
    assert.equal((await get(`${p.http}/api/jobs/job-b/steps/0/output`, bearer(all))).body.toString(), 'output of b\n');
    const live = await get(`${p.http}/api/jobs/job-b/live?token=${all}`);
    assert.equal(live.status, 200);
    assert.match(live.body.toString(), /event: end/);
  });

  it('a read token cannot stream output', async () => {
    for (const token of [readToken(secret, 'job-c'), readToken(secret, ALL_JOBS)]) {
      const s = new TestStream(p.target, token);
      await s.send(openFrame('job-c'));
      assert.equal((await s.status).code, status.UNAUTHENTICATED);
    }
  });

  it('tokens in URLs are hidden in the request log', async () => {
    const a = readToken(secret, 'job-a');
    await get(`${p.http}/api/jobs/job-a?token=${a}`);
    const logged = log.lines().filter((l) => l.msg === 'request').map((l) => String(l.path));
    assert.ok(logged.includes('/api/jobs/job-a?token=(hidden)'), logged.join('\n'));
    assert.ok(!logged.some((path) => path.includes(a)));
  });
});

describe('output processor without --http-auth', () => {
  it('warns when its HTTP side listens beyond loopback, and not on loopback or with tokens', async () => {
    for (const [http, httpAuth, warned] of [['0.0.0.0:0', 'none', true], ['127.0.0.1:0', 'none', false], ['0.0.0.0:0', 'tokens', false]] as const) {
      const log = capturingLogger();
      const p = await startTestProcessor({ http, httpAuth, logger: log.logger });
      await p.dispose();
      const warnings = log.lines().filter((l) => l.level === 'warn' && /--http-auth tokens/.test(String(l.msg)));
      assert.equal(warnings.length, warned ? 1 : 0, `${http} ${httpAuth}`);
    }
  });
});

describe('deckhand output-processor token --read', () => {
  let p: TestProcessor;
  before(async () => {
    p = await startTestProcessor();
  });
  after(async () => {
    await p?.dispose();
  });
  const token = (args: string[]) => {
    const r = spawnSync(process.execPath, [packagePath('bin', 'deckhand.js'), 'output-processor', 'token', '--data', p.dataDir, ...args], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };

  it('prints read tokens for a job and for all jobs; refuses the combinations that mean nothing', () => {
    const secret = loadSecret(join(p.dataDir, 'secret'), false);
    assert.deepEqual(token(['--read', 'job-a']), { code: 0, out: readToken(secret, 'job-a'), err: '' });
    assert.deepEqual(token(['--read', '--all-jobs']), { code: 0, out: readToken(secret, ALL_JOBS), err: '' });
    assert.equal(token(['job-a']).out, p.token('job-a'));
    for (const args of [['--all-jobs'], ['--read', '--all-jobs', 'job-a'], [], ['--read']]) {
      const r = token(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, /^deckhand: (--all-jobs goes with --read and no job id|output-processor token needs a job id)/);
    }
  });
});
