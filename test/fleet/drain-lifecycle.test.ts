/**
 * The client image's AWS lifecycle watcher (deckhand-lifecycle) run for real in the packer-built
 * image, against stand-ins on loopback for what it talks to on an instance: the instance metadata
 * service (IMDSv2 tokens, the target lifecycle state, the role's credentials), the local Nomad
 * agent's HTTP API (`deckhand nomad drain --self`), and the Auto Scaling query API, where the
 * SigV4 signature curl made is computed again from the role's secret and compared.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fleetImage, inImage } from './fleet-images.js';

const CREDENTIALS = { AccessKeyId: 'ASIAEXAMPLEKEY', SecretAccessKey: 'example/secret+key', Token: 'session-token-of-the-role' };
const TOKEN = 'imds-token-1';

interface Seen {
  lifecycleStatePolls: number;
  unauthorizedMetadata: number;
  drains: { node: string; body: Record<string, unknown> }[];
  completions: { params: URLSearchParams; signatureOk: boolean; token: string | undefined }[];
  order: string[];
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

/** AWS Signature Version 4 of a request, computed from its signed headers and the secret. */
function expectedSignature(request: IncomingMessage, body: string, secret: string): { ok: boolean; why: string } {
  const auth = String(request.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, why: `Authorization is not SigV4: ${auth}` };
  const [, key, date, region, service, signedHeaders, signature] = m as unknown as string[];
  const headers = signedHeaders!.split(';');
  const canonical = [
    request.method,
    new URL(request.url ?? '/', 'http://x').pathname,
    '',
    ...headers.map((h) => `${h}:${String(request.headers[h] ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    signedHeaders,
    sha256(body),
  ].join('\n');
  const amzDate = String(request.headers['x-amz-date'] ?? '');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${date}/${region}/${service}/aws4_request`, sha256(canonical)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request');
  const computed = hmac(signingKey, toSign).toString('hex');
  if (key !== CREDENTIALS.AccessKeyId) return { ok: false, why: `signed with key ${key}` };
  if (region !== 'eu-west-1' || service !== 'autoscaling') return { ok: false, why: `scope ${region}/${service}` };
  return { ok: computed === signature, why: computed === signature ? '' : 'the signature does not match the secret' };
}

describe('deckhand-lifecycle (AWS termination hook) in the client image', { timeout: 600_000 }, () => {
  let server: Server;
  let port = 0;
  const seen: Seen = { lifecycleStatePolls: 0, unauthorizedMetadata: 0, drains: [], completions: [], order: [] };
  let signatureProblem = '';

  before(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        const url = new URL(request.url ?? '/', 'http://x');
        const send = (status: number, text: string) => {
          response.writeHead(status, { 'content-type': text.startsWith('{') ? 'application/json' : 'text/plain' });
          response.end(text);
        };
        // the instance metadata service, IMDSv2 only
        if (url.pathname === '/latest/api/token' && request.method === 'PUT') return send(request.headers['x-aws-ec2-metadata-token-ttl-seconds'] ? 200 : 400, TOKEN);
        if (url.pathname.startsWith('/latest/meta-data/')) {
          if (request.headers['x-aws-ec2-metadata-token'] !== TOKEN) {
            seen.unauthorizedMetadata++;
            return send(401, '');
          }
          const item = url.pathname.slice('/latest/meta-data/'.length);
          if (item === 'autoscaling/target-lifecycle-state') {
            seen.lifecycleStatePolls++;
            return send(200, seen.lifecycleStatePolls < 3 ? 'InService' : 'Terminated');
          }
          const items: Record<string, string> = {
            'instance-id': 'i-0123456789abcdef0',
            'placement/region': 'eu-west-1',
            'iam/security-credentials/': 'deckhand-client-role',
            // as IMDS answers: pretty-printed, one field a line
            'iam/security-credentials/deckhand-client-role': JSON.stringify({ Code: 'Success', Type: 'AWS-HMAC', ...CREDENTIALS, Expiration: '2099-01-01T00:00:00Z' }, null, 2),
          };
          return items[item] !== undefined ? send(200, items[item]!) : send(404, '');
        }
        // the local Nomad agent
        if (url.pathname === '/v1/agent/self') return send(200, JSON.stringify({ stats: { client: { node_id: 'node-7' } } }));
        if (url.pathname === '/v1/node/node-7/drain' && request.method === 'PUT') {
          seen.order.push('drain');
          seen.drains.push({ node: 'node-7', body: JSON.parse(body) as Record<string, unknown> });
          return send(200, JSON.stringify({ EvalIDs: [], Index: 5 }));
        }
        if (url.pathname === '/v1/node/node-7') {
          response.setHeader('X-Nomad-Index', '6');
          return send(200, JSON.stringify({ ID: 'node-7', DrainStrategy: null, SchedulingEligibility: 'ineligible' }));
        }
        // the Auto Scaling query API
        if (url.pathname === '/' && request.method === 'POST') {
          seen.order.push('complete');
          const check = expectedSignature(request, body, CREDENTIALS.SecretAccessKey);
          if (!check.ok) signatureProblem = check.why;
          seen.completions.push({ params: new URLSearchParams(body), signatureOk: check.ok, token: request.headers['x-amz-security-token'] as string | undefined });
          return send(check.ok ? 200 : 403, '<CompleteLifecycleActionResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>');
        }
        send(404, '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('waits for Terminated, drains the client with deckhand nomad drain --self, then completes the hook with a signed call', async () => {
    const image = await fleetImage('client');
    const local = `http://127.0.0.1:${port}`;
    const { stdout, stderr } = await inImage(image, [
      'printf "DECKHAND_NOMAD_SERVERS=10.0.0.11\\nDECKHAND_AUTOSCALING_GROUP=deckhand-clients\\nDECKHAND_LIFECYCLE_HOOK=deckhand-drain\\n" >/etc/deckhand/fleet.env',
      'timeout 60 deckhand-lifecycle',
    ].join('\n'), ['--network', 'host', '-e', `DECKHAND_IMDS=${local}`, '-e', `DECKHAND_AUTOSCALING_ENDPOINT=${local}/`, '-e', 'DECKHAND_LIFECYCLE_POLL_SECONDS=0.1', '-e', `NOMAD_ADDR=${local}`, '-e', 'DECKHAND_DRAIN_DEADLINE=20m']);
    assert.match(stdout, /terminating this instance; draining/);
    assert.match(stdout, /drained; the termination goes on/, stderr);
    assert.ok(seen.lifecycleStatePolls >= 3, 'it kept polling while the instance was InService');
    assert.equal(seen.unauthorizedMetadata, 0, 'every metadata read carried an IMDSv2 token');
    assert.deepEqual(seen.order, ['drain', 'complete'], 'drained first, then let the termination go on');
    assert.equal((seen.drains[0]?.body.DrainSpec as { Deadline: number }).Deadline, 20 * 60 * 1e9);
    assert.equal(signatureProblem, '');
    const completion = seen.completions[0]!;
    assert.ok(completion.signatureOk);
    assert.equal(completion.token, CREDENTIALS.Token);
    assert.deepEqual(Object.fromEntries(completion.params), {
      Action: 'CompleteLifecycleAction',
      Version: '2011-01-01',
      AutoScalingGroupName: 'deckhand-clients',
      LifecycleHookName: 'deckhand-drain',
      InstanceId: 'i-0123456789abcdef0',
      LifecycleActionResult: 'CONTINUE',
    });
  });
});
