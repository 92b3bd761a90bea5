/**
 * How `deckhand serve --backend nomad` learns a job's SSH: the job's agent streams SshStatus
 * events (the real gRPC sink) to a real output processor that wants read tokens, and the service
 * follows the processor's job JSON with the job's read token, hearing each change once, in order;
 * a wrong token is said once, not retried silently. And the assignment's ssh section it sends to a
 * Nomad client: the keys inline (no comments, no file paths), no address, the hold settings.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { followProcessorSsh } from '../../agent/control-api/processor-ssh.js';
import { inlineAssignmentSsh } from '../../agent/control-api/rerun-ssh.js';
import type { NodeSsh } from '../../agent/control-api/store.js';
import { silentLogger } from '../../agent/daemon-log.js';
import { jobSshSettings } from '../../agent/debug-ssh/settings.js';
import type { SshStatus } from '../../agent/output/events.js';
import { GrpcOutputSink } from '../../agent/output/stream/grpc-sink.js';
import { defaultSecretFile, startOutputProcessor, type RunningOutputProcessor } from '../../agent/processor/index.js';
import { jobToken, loadSecret, readToken } from '../../agent/processor/tokens.js';
import { clientKey } from '../support/openssh.js';

const where = { command: 'ssh -p 64601 circleci@127.0.0.1', user: 'circleci', host: '127.0.0.1', port: 64601, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostKe', hostKeyFingerprint: 'SHA256:hostkeyfingerprintforthistestonly0123456789' };

describe('the service following a job\'s SSH at the output processor', { timeout: 60_000 }, () => {
  let dir: string;
  let processor: RunningOutputProcessor;
  let secret: Buffer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deckhand-processor-ssh-'));
    processor = await startOutputProcessor({ listen: '127.0.0.1:0', http: '127.0.0.1:0', httpAuth: 'tokens', dataDir: dir, logger: silentLogger });
    secret = loadSecret(defaultSecretFile(dir), false);
  });
  after(async () => {
    await processor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('each change heard once, in order, with the job\'s read token; the job not there yet is waited for', async () => {
    const runId = `run-${Date.now()}`;
    const heard: NodeSsh[] = [];
    const trouble: string[] = [];
    const stop = new AbortController();
    const url = `http://127.0.0.1:${processor.httpPort}/api/jobs/${runId}`;
    // started before the job exists: 404s until its stream opens
    const following = followProcessorSsh({ url, token: readToken(secret, runId) }, (s) => heard.push(s), stop.signal, (l) => trouble.push(l), 50);
    await new Promise((r) => setTimeout(r, 200));
    const sink = new GrpcOutputSink({ target: `127.0.0.1:${processor.grpcPort}`, jobId: runId, token: jobToken(secret, runId), stepCount: 1, jobName: 'build', deadlineMs: 20_000 });
    const statuses: SshStatus[] = [
      { phase: 'listening', ...where, sessions: 0 },
      { phase: 'listening', ...where, sessions: 1 },
      { phase: 'holding', ...where, sessions: 1 },
      { phase: 'ended', ...where, sessions: 0 },
    ];
    sink.event({ type: 'job-start', job: 'build', time: Date.now(), environment: {} });
    for (const s of statuses) {
      sink.event({ type: 'ssh', time: Date.now(), ...s });
      const want = heard.length + 1;
      for (let i = 0; i < 100 && heard.length < want; i++) await new Promise((r) => setTimeout(r, 20));
    }
    sink.event({ type: 'job-end', status: 'success', durationMs: 1 });
    await sink.close();
    await new Promise((r) => setTimeout(r, 200));
    stop.abort();
    await following;
    assert.deepEqual(heard, statuses);
    assert.deepEqual(trouble, []);
  });

  test('a token for another job: said once, as one line naming the processor', async () => {
    const stop = new AbortController();
    const trouble: string[] = [];
    const url = `http://127.0.0.1:${processor.httpPort}/api/jobs/some-run`;
    const following = followProcessorSsh({ url, token: readToken(secret, 'another-run') }, () => assert.fail('nothing to hear'), stop.signal, (l) => trouble.push(l), 20);
    await new Promise((r) => setTimeout(r, 300));
    stop.abort();
    await following;
    assert.deepEqual(trouble, [`cannot read the job's SSH status at the output processor (${url}): HTTP 403; trying again`]);
  });
});

describe('the ssh section a Nomad client is sent', () => {
  test('keys inline as TYPE BASE64, options lines and comments left here; no address or port; the hold settings', () => {
    const a = clientKey('a');
    const b = clientKey('b');
    const dir = mkdtempSync(join(tmpdir(), 'deckhand-inline-keys-'));
    const file = join(dir, 'keys.pub');
    writeFileSync(file, `# the team\n${a.publicKey}\ncommand="true" ${b.publicKey}\n`);
    const section = inlineAssignmentSsh({ authorizedKeys: [file, b.publicPath], fingerprints: [] }, { authorizedKeys: [], host: '10.0.0.9', port: 2222, waitSeconds: 5, maxHoldSeconds: 60 });
    rmSync(dir, { recursive: true, force: true });
    const bare = (k: string) => k.split(' ').slice(0, 2).join(' ');
    assert.deepEqual(section, { enabled: true, authorizedKeyLines: [bare(a.publicKey), bare(b.publicKey)], waitSeconds: 5, maxHoldSeconds: 60 });
    // what the client's agent makes of it: the same two keys
    assert.deepEqual(jobSshSettings(section)?.keys.keys.map((k) => k.fingerprint), [a.fingerprint, b.fingerprint]);
  });
});
