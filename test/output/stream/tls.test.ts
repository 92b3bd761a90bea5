/**
 * Streaming over TLS to the real output processor (started in this process with a certificate
 * made by openssl for 127.0.0.1): with the right CA and a client certificate the job is stored
 * and verified; without the client certificate, or trusting another CA, the job is refused at once
 * (a TLS failure does not heal by retrying) and the report says why.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultSecretFile, startOutputProcessor, type RunningOutputProcessor } from '../../../agent/processor/index.js';
import { silentLogger } from '../../../agent/daemon-log.js';
import { jobToken, loadSecret } from '../../../agent/processor/tokens.js';
import { GrpcOutputSink } from '../../../agent/output/stream/grpc-sink.js';
import { sha256 } from '../../support/processor-process.js';

interface Pki {
  ca: Buffer;
  otherCa: Buffer;
  server: { cert: Buffer; key: Buffer };
  client: { cert: Buffer; key: Buffer };
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and an unrelated CA. */
function makePki(dir: string): Pki {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=deckhand test CA');
  ssl('req', '-x509', ...key, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=another CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const name of ['server', 'client']) {
    ssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...(name === 'server' ? ['-extfile', 'server.ext'] : []));
  }
  const read = (f: string) => readFileSync(join(dir, f));
  return { ca: read('ca.pem'), otherCa: read('other.pem'), server: { cert: read('server.pem'), key: read('server.key') }, client: { cert: read('client.pem'), key: read('client.key') } };
}

describe('output streaming over TLS', { timeout: 120_000 }, () => {
  let dir: string;
  let pki: Pki;
  let processor: RunningOutputProcessor;
  let secret: Buffer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deckhand-stream-tls-'));
    pki = makePki(dir);
    const data = join(dir, 'data');
    processor = await startOutputProcessor({ listen: '127.0.0.1:0', dataDir: data, http: '127.0.0.1:0', tls: { ...pki.server, clientCa: pki.ca }, logger: silentLogger });
    secret = loadSecret(defaultSecretFile(data), false);
  });
  after(async () => {
    await processor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Streams a small job; returns the sink's report and what it sent. */
  async function stream(jobId: string, tls: { tlsCa: Buffer; tlsClient?: { cert: Buffer; key: Buffer } }, deadlineMs: number) {
    const sink = new GrpcOutputSink({ target: `127.0.0.1:${processor.grpcPort}`, jobId, token: jobToken(secret, jobId), stepCount: 1, jobName: 'tls', deadlineMs, ...tls });
    const data = Buffer.concat([Buffer.from('over TLS \xff\n', 'latin1'), Buffer.alloc(300_000, 0x41)]);
    sink.event({ type: 'job-start', job: 'tls', time: Date.now(), environment: {} });
    sink.event({ type: 'step-start', index: 0, name: 'one', stepType: 'run', time: Date.now(), background: false });
    sink.event({ type: 'output', index: 0, stream: 'stdout', data });
    sink.event({ type: 'step-end', index: 0, status: 'success', exitCode: 0, durationMs: 1 });
    sink.event({ type: 'job-end', status: 'success', durationMs: 1 });
    const admission = await sink.admitted().then(
      () => 'admitted',
      (err: Error) => err.message,
    );
    const t = Date.now();
    await sink.close();
    return { report: sink.report(), data, tookMs: Date.now() - t, admission };
  }

  test('the right CA and a client certificate: stored and verified', async () => {
    const jobId = `tls-ok-${Date.now()}`;
    const { report, data } = await stream(jobId, { tlsCa: pki.ca, tlsClient: pki.client }, 30_000);
    assert.ok(report?.complete && report.verified, JSON.stringify(report));
    const res = await fetch(`http://127.0.0.1:${processor.httpPort}/api/jobs/${jobId}/steps/0/output`);
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(data));
  });

  test('no client certificate, or another CA: refused at once as a TLS failure, nothing delivered', async (t) => {
    for (const tls of [{ tlsCa: pki.ca }, { tlsCa: pki.otherCa, tlsClient: pki.client }]) {
      const { report, tookMs, admission } = await stream(`tls-refused-${Date.now()}`, tls, 30_000);
      assert.match(admission, /^output processor 127\.0\.0\.1:\d+ refused job tls-refused-\d+: UNAVAILABLE: .*(certificate|alert)/i, admission);
      t.diagnostic(admission);
      assert.equal(report?.complete, false);
      assert.ok((report?.undeliveredBytes ?? 0) > 300_000, JSON.stringify(report));
      assert.ok(report?.lastError, 'the report names the last error');
      assert.ok(tookMs < 5000, `close took ${tookMs} ms: a refused job does not wait out its 30 s deadline`);
    }
  });
});
