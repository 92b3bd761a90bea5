/**
 * Rerun with SSH through `deckhand serve`: a real service process, real Docker jobs, the real
 * OpenSSH `ssh` client. A failed job rerun with SSH shows its ssh line and host key in its answer
 * once its server listens; a wrong key is refused; a command run over SSH sees what the steps
 * left in the job's container; when the session leaves the job ends with its steps' result and
 * nothing is left on the engine. Cancel ends a hold with a session open (the steps' result stands). Bad requests get one
 * clear JSON line. The audit log says who reran which job with which keys.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clientKey, ssh, sshProcess, type ClientKey, type Endpoint } from '../support/openssh.js';
import { containersOf, jobNamed, oneJobConfig, ServeProcess } from '../support/serve-process.js';

const CONFIG = oneJobConfig('check', ['echo left-by-the-steps > /tmp/marker', 'exit 3'], 'main');

interface SshJson {
  enabled: boolean;
  status: string;
  command: string | null;
  host: string | null;
  port: number | null;
  user: string | null;
  host_key: string | null;
  host_key_fingerprint: string | null;
  sessions: number;
  key_fingerprints: string[];
}

interface RerunJob {
  id: string;
  name: string;
  status: string;
  workflow_id: string;
  ssh?: SshJson;
  nodes: { run_id: string; status: string; ssh?: SshJson; steps: { name: string; status: string; exit_code: number | null }[] }[];
}

const FINAL = ['success', 'failed', 'canceled', 'infrastructure_fail', 'not_run'];

/** Runs CONFIG to its (failed) end; the job's id. */
async function failedJob(serve: ServeProcess, token: string): Promise<string> {
  const pipeline = await serve.submit(token, CONFIG);
  const done = await serve.waitFor(token, pipeline, (p) => FINAL.includes(jobNamed(p, 'check').status));
  const job = jobNamed(done, 'check');
  assert.equal(job.status, 'failed');
  return job.id;
}

async function pollJob(serve: ServeProcess, token: string, id: string, done: (j: RerunJob) => boolean, timeoutMs = 90_000): Promise<RerunJob> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await serve.request<RerunJob>('GET', `/api/v1/jobs/${id}`, { token });
    assert.equal(r.status, 200, r.text);
    if (done(r.body)) return r.body;
    if (Date.now() > until) throw new Error(`job ${id} did not get there in ${timeoutMs} ms: ${r.text}\n${serve.log.slice(-3000)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Where the job's answer says to connect, checked against the line it shows. */
function endpointOf(s: SshJson): Endpoint {
  const m = /^ssh -p (\d+) ([^@\s]+)@(\S+)$/.exec(s.command ?? '');
  assert.ok(m, `the ssh line: ${s.command}`);
  assert.equal(Number(m[1]), s.port);
  assert.equal(m[2], s.user);
  assert.equal(m[3], s.host);
  assert.match(s.host_key ?? '', /^ssh-ed25519 \S+$/);
  assert.match(s.host_key_fingerprint ?? '', /^SHA256:[A-Za-z0-9+/]{43}$/);
  return { host: s.host!, port: s.port!, user: s.user!, hostKey: s.host_key! };
}

describe('deckhand serve: rerun a job with SSH', () => {
  let serve: ServeProcess;
  let submit: string;
  let admin: string;
  let allowed: ClientKey;
  let stranger: ClientKey;

  before(async () => {
    allowed = clientKey('allowed');
    stranger = clientKey('stranger');
    // no keys of the service's own: a request must bring them
    serve = await ServeProcess.start(['--ssh-wait', '60s']);
    submit = serve.token('submit', 'dev-alice');
    admin = serve.token('admin', 'ops');
  });
  after(async () => serve.stop());

  test('rerun with SSH: the line in the job, a wrong key refused, a command in the container, the steps\' result', async () => {
    const jobId = await failedJob(serve, submit);
    const t0 = Date.now();
    const r = await serve.request<RerunJob>('POST', `/api/v1/jobs/${jobId}/rerun`, { token: submit, json: { ssh: true, authorized_keys: [allowed.publicKey] } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), `/api/v1/jobs/${r.body.id}`);
    assert.notEqual(r.body.id, jobId);
    assert.equal(r.body.name, 'check');
    assert.equal(r.body.ssh?.enabled, true);
    assert.deepEqual(r.body.ssh?.key_fingerprints, [allowed.fingerprint]);

    const listening = await pollJob(serve, submit, r.body.id, (j) => j.ssh?.command !== null && j.ssh?.command !== undefined);
    const lineMs = Date.now() - t0;
    const endpoint = endpointOf(listening.ssh!);
    assert.equal(endpoint.host, '127.0.0.1', 'the address is the --listen host');
    assert.ok(endpoint.port >= 64535 && endpoint.port <= 65535, `port ${endpoint.port} is in 64535-65535`);
    assert.deepEqual(listening.nodes[0].ssh?.command, listening.ssh?.command);

    // the steps run, then the job holds for a session
    const holding = await pollJob(serve, submit, r.body.id, (j) => j.ssh?.status === 'holding');
    assert.equal(holding.status, 'running');
    assert.equal(holding.ssh?.sessions, 0);
    const steps = holding.nodes[0].steps;
    assert.equal(steps.find((s) => s.name === 'Enable SSH')?.status, 'success');
    assert.equal(steps.find((s) => s.exit_code === 3)?.status, 'failed', 'the steps ran before the hold');
    assert.equal(steps.at(-1)?.name, 'Wait for SSH');
    assert.equal(steps.at(-1)?.status, 'running');

    const page = await serve.request('GET', `/?token=${submit}`);
    assert.ok(page.text.includes(`<code class="ssh">${holding.ssh!.command}</code>`), 'the web page shows the line while the job holds');

    const busy = await serve.request('POST', `/api/v1/jobs/${r.body.id}/rerun`, { token: submit, json: { ssh: true, authorized_keys: [allowed.publicKey] } });
    assert.equal(busy.status, 409, 'a job still running is not rerun');
    assert.match(String(busy.body.error), /is still running; cancel it or wait for its end/);

    const refused = await ssh(endpoint, stranger, ['true']);
    assert.equal(refused.code, 255, `a key not given is refused: ${refused.stderr}`);
    assert.match(refused.stderr, /Permission denied \(publickey\)/);

    const ran = await ssh(endpoint, allowed, ['cat /tmp/marker; echo to-stderr >&2; exit 7']);
    assert.equal(ran.code, 7, ran.stderr);
    assert.equal(ran.stdout, 'left-by-the-steps\n');
    assert.equal(ran.stderr, 'to-stderr\n');

    // the session left: the job ends, with its steps' result
    const ended = await pollJob(serve, submit, r.body.id, (j) => FINAL.includes(j.status));
    assert.equal(ended.status, 'failed');
    assert.equal(ended.ssh?.status, 'ended');
    assert.equal(ended.ssh?.sessions, 0);
    assert.equal(ended.nodes[0].steps.at(-1)?.name, 'Wait for SSH');
    assert.equal(ended.nodes[0].steps.at(-1)?.status, 'success');
    assert.equal(await containersOf(ended.workflow_id, ended.nodes[0].run_id), 0, 'nothing left on the engine');

    const output = await serve.request('GET', `/api/v1/jobs/${r.body.id}/output`, { token: submit });
    assert.ok(output.text.includes(listening.ssh!.command!), 'the job\'s output shows the same line');
    assert.ok(output.text.includes(allowed.fingerprint), 'the login is in the job\'s output with its key');

    const audit = await serve.request<{ items: { action: string; actor: { id: string; type: string }; target: { id: string; type: string }; payload: Record<string, unknown>; success: boolean }[] }>('GET', '/api/v1/audit', { token: admin });
    const entry = audit.body.items.find((e) => e.action === 'workflow.job.rerun_with_ssh');
    assert.ok(entry, 'the rerun with SSH is in the audit log');
    assert.deepEqual(entry.actor, { id: 'dev-alice', type: 'token:submit' });
    assert.deepEqual(entry.target, { id: jobId, type: 'job' });
    assert.equal(entry.payload.new_job_id, r.body.id);
    assert.equal(entry.payload.new_workflow_id, ended.workflow_id);
    assert.deepEqual(entry.payload.ssh_key_fingerprints, [allowed.fingerprint]);
    assert.equal(entry.success, true);
    process.stderr.write(`rerun to ssh line: ${lineMs} ms\n`);
  });

  test('a workflow rerun from failed with "enable_ssh", as CircleCI API v2 takes it', async () => {
    const jobId = await failedJob(serve, submit);
    const job = await serve.request<RerunJob>('GET', `/api/v1/jobs/${jobId}`, { token: submit });
    const r = await serve.request<{ id: string; rerun_of: string; jobs: { id: string; name: string }[] }>('POST', `/api/v1/workflows/${job.body.workflow_id}/rerun`, { token: submit, json: { from_failed: true, enable_ssh: true, authorized_keys: [allowed.publicKey] } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.rerun_of, job.body.workflow_id);
    const rerunJobId = r.body.jobs.find((j) => j.name === 'check')!.id;
    const holding = await pollJob(serve, submit, rerunJobId, (j) => j.ssh?.status === 'holding');
    assert.deepEqual(holding.ssh?.key_fingerprints, [allowed.fingerprint]);
    const ran = await ssh(endpointOf(holding.ssh!), allowed, ['cat', '/tmp/marker']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout, 'left-by-the-steps\n');
    const ended = await pollJob(serve, submit, rerunJobId, (j) => FINAL.includes(j.status));
    assert.equal(ended.status, 'failed');
    assert.equal(await containersOf(ended.workflow_id, ended.nodes[0].run_id), 0, 'nothing left on the engine');
    const audit = await serve.request<{ items: { action: string; target: { id: string }; payload: Record<string, unknown> }[] }>('GET', '/api/v1/audit', { token: admin });
    const entry = audit.body.items.find((e) => e.action === 'workflow.rerun_with_ssh' && e.target.id === job.body.workflow_id);
    assert.ok(entry, 'the workflow rerun with SSH is in the audit log');
    assert.equal(entry.payload.new_workflow_id, r.body.id);
    assert.deepEqual(entry.payload.ssh_key_fingerprints, [allowed.fingerprint]);
  });

  test('bad requests: an unknown job, no keys anywhere, a wrong key line, unknown fields, a read token', async () => {
    const unknown = randomUUID();
    const missing = await serve.request('POST', `/api/v1/jobs/${unknown}/rerun`, { token: submit, json: { ssh: true } });
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.error), new RegExp(`^no job ${unknown}; `));

    const jobId = await failedJob(serve, submit);
    const noKeys = await serve.request('POST', `/api/v1/jobs/${jobId}/rerun`, { token: submit, json: { ssh: true } });
    assert.equal(noKeys.status, 422, noKeys.text);
    assert.match(String(noKeys.body.error), /needs public keys: give them in the request as "authorized_keys".*--ssh-authorized-keys FILE/);

    const notAKey = await serve.request('POST', `/api/v1/jobs/${jobId}/rerun`, { token: submit, json: { ssh: true, authorized_keys: ['ssh-ed25519 not-base64!'] } });
    assert.equal(notAKey.status, 422, notAKey.text);
    assert.match(String(notAKey.body.error), /^"authorized_keys" item 0: /);

    const field = await serve.request('POST', `/api/v1/jobs/${jobId}/rerun`, { token: submit, json: { ssh: true, keys: [] } });
    assert.equal(field.status, 400);
    assert.match(String(field.body.error), /unknown field "keys"/);

    const readOnly = await serve.request('POST', `/api/v1/jobs/${jobId}/rerun`, { token: serve.token('read'), json: { ssh: true, authorized_keys: [allowed.publicKey] } });
    assert.equal(readOnly.status, 403);

    // nothing was started by any of these
    const audit = await serve.request<{ items: { action: string; target: { id: string } }[] }>('GET', '/api/v1/audit', { token: admin });
    assert.equal(audit.body.items.filter((e) => e.action.startsWith('workflow.job.rerun') && e.target.id === jobId).length, 0);
  });
});

describe('deckhand serve --ssh-authorized-keys: the service\'s keys, and cancel during the hold', () => {
  let serve: ServeProcess;
  let submit: string;
  let key: ClientKey;

  before(async () => {
    key = clientKey('team');
    serve = await ServeProcess.start(['--ssh-authorized-keys', key.publicPath, '--ssh-host', '127.0.0.1', '--ssh-port', '64535-65535']);
    submit = serve.token('submit', 'dev-bob');
  });
  after(async () => serve.stop());

  test('a rerun without keys takes the service\'s; cancel while a session is open ends both', async () => {
    const jobId = await failedJob(serve, submit);
    const r = await serve.request<RerunJob>('POST', `/api/v1/jobs/${jobId}/rerun`, { token: submit, json: { enable_ssh: true } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body.ssh?.key_fingerprints, [key.fingerprint]);
    const holding = await pollJob(serve, submit, r.body.id, (j) => j.ssh?.status === 'holding');
    const endpoint = endpointOf(holding.ssh!);
    const session = sshProcess(endpoint, key, [], ['echo in; sleep 300']);
    const open = await pollJob(serve, submit, r.body.id, (j) => j.ssh?.sessions === 1, 30_000);
    assert.equal(open.status, 'running');

    const cancel = await serve.request('POST', `/api/v1/jobs/${r.body.id}/cancel`, { token: submit });
    assert.equal(cancel.status, 202, cancel.text);
    const ended = await pollJob(serve, submit, r.body.id, (j) => FINAL.includes(j.status), 60_000);
    // a cancel during the hold ends the hold only: the steps' result stands (docs/ssh-into-builds.md)
    assert.equal(ended.status, 'failed');
    assert.match(String((ended as RerunJob & { reason?: string }).reason), /^canceled by dev-bob/);
    assert.equal(ended.nodes[0].steps.at(-1)?.name, 'Wait for SSH');
    assert.equal(ended.nodes[0].steps.at(-1)?.status, 'canceled');
    assert.equal(ended.ssh?.status, 'ended');
    const code = await Promise.race([session.exited, new Promise<string>((res) => setTimeout(() => res('still open'), 15_000))]);
    assert.notEqual(code, 'still open', 'the session was closed with the job');
    assert.match(session.output(), /in/);
    assert.equal(await containersOf(ended.workflow_id, ended.nodes[0].run_id), 0, 'nothing left on the engine');
    await session.stop();
  });
});

describe('deckhand serve --backend nomad: rerun with SSH is taken (the run itself: nomad-plugin/harness/serve_ssh_test.go)', () => {
  let serve: ServeProcess;

  // a Nomad address where nothing listens: the job's dispatch fails at once, which is all this needs
  before(async () => {
    serve = await ServeProcess.start(['--backend', 'nomad', '--nomad-addr', 'http://127.0.0.1:1']);
  });
  after(async () => serve.stop());

  test('201 with the keys\' fingerprints and ssh starting; a dispatch that fails ends it, and the job, plainly', async () => {
    const submit = serve.token('submit');
    const pipeline = await serve.submit(submit, CONFIG);
    const done = await serve.waitFor(submit, pipeline, (p) => FINAL.includes(jobNamed(p, 'check').status), 30_000);
    const job = jobNamed(done, 'check');
    assert.equal(job.status, 'infrastructure_fail');
    const key = clientKey('nomad');
    const r = await serve.request<RerunJob>('POST', `/api/v1/jobs/${job.id}/rerun`, { token: submit, json: { ssh: true, authorized_keys: [key.publicKey] } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body.ssh?.key_fingerprints, [key.fingerprint]);
    assert.ok(['starting', 'ended'].includes(r.body.ssh?.status ?? ''), r.text);
    const ended = await pollJob(serve, submit, r.body.id, (j) => FINAL.includes(j.status), 30_000);
    assert.equal(ended.status, 'infrastructure_fail');
    assert.equal(ended.ssh?.status, 'ended');
    assert.equal(ended.ssh?.command, null, 'never listened: no line');
    const plain = await serve.request<RerunJob>('POST', `/api/v1/jobs/${job.id}/rerun`, { token: submit });
    assert.equal(plain.status, 201, plain.text);
    assert.equal(plain.body.ssh, undefined);
  });
});
