/**
 * OrbSource, the orb registry client, against a stand-in for CircleCI's registry on loopback that
 * speaks the same GraphQL request and answer shapes (test/support/orb-registry-server.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { normalizeHost, OrbFetchError, OrbSource } from '../../agent/config/orb-fetch.js';
import { OrbRegistryStandIn } from '../support/orb-registry-server.js';
import { freePort } from '../support/free-port.js';

const standIn = new OrbRegistryStandIn();
let host = '';

before(async () => {
  standIn.publish('acme/tools@5.0.0', 'version: 2.1\ndescription: five-oh\n');
  standIn.publish('acme/tools@5.2.0', 'version: 2.1\ndescription: five-two\n');
  standIn.publish('acme/tools@6.0.0', 'version: 2.1\ndescription: six\n');
  standIn.publish('acme/tools@dev:alpha', 'version: 2.1\ndescription: alpha\n');
  standIn.publish('acme/private@1.0.0', 'version: 2.1\n', { token: 's3cret' });
  host = await standIn.start();
});
after(() => standIn.stop());

test('one POST to {host}/graphql-unstable with the orbVersion query; the registry resolves partial versions', async () => {
  const source = new OrbSource({ host: `${host}/` });
  standIn.requests.length = 0;
  const v = await source.orbVersion('acme/tools@5');
  assert.equal(v?.version, '5.2.0');
  assert.equal(v?.source, 'version: 2.1\ndescription: five-two\n');
  assert.ok(v?.id && v.orbId);
  const [req] = standIn.requests;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/graphql-unstable');
  assert.match(String(req.headers['content-type']), /^application\/json/);
  assert.equal(req.headers['circle-token'], undefined);
  const body = req.body as { query: string; variables: Record<string, unknown> };
  assert.deepEqual(body.variables, { orbVersionRef: 'acme/tools@5' });
  assert.match(body.query, /orbVersion\(orbVersionRef: \$orbVersionRef\)\s*\{\s*id\s+version\s+orb \{ id \}\s+source\s*\}/);
  assert.equal((await source.orbVersion('acme/tools@5.0'))?.version, '5.0.0');
  assert.equal((await source.orbVersion('acme/tools@dev:alpha'))?.version, 'dev:alpha');
});

test('a reference without a version is asked for as @volatile', async () => {
  standIn.requests.length = 0;
  assert.equal((await new OrbSource({ host }).orbVersion('acme/tools'))?.version, '6.0.0');
  assert.deepEqual((standIn.requests[0].body as { variables: unknown }).variables, { orbVersionRef: 'acme/tools@volatile' });
});

test('no such orb or version is undefined; a refused reference is one line naming the host', async () => {
  const source = new OrbSource({ host });
  assert.equal(await source.orbVersion('acme/tools@7'), undefined);
  assert.equal(await source.orbVersion('acme/nothing@1.0.0'), undefined);
  await assert.rejects(source.orbVersion('acme/tools@not-a-version'), (err: Error) => {
    assert.equal(err.message, `the orb registry ${new URL(host).host} refused acme/tools@not-a-version: Invalid orb reference: acme/tools@not-a-version (a private orb needs CIRCLE_TOKEN)`);
    return true;
  });
});

test('CIRCLE_TOKEN goes as Circle-Token: a private orb is seen only with it', async () => {
  assert.equal(await new OrbSource({ host }).orbVersion('acme/private@1'), undefined);
  standIn.requests.length = 0;
  assert.equal((await new OrbSource({ host, token: 's3cret' }).orbVersion('acme/private@1'))?.version, '1.0.0');
  assert.equal(standIn.requests[0].headers['circle-token'], 's3cret');
  assert.equal(standIn.requests[0].headers.authorization, undefined);
});

test('HTTP failures, a closed port and a registry that never answers are one line naming the host', async () => {
  const where = new URL(host).host;
  standIn.failWith = 502;
  await assert.rejects(new OrbSource({ host }).orbVersion('acme/tools@5'), { message: `the orb registry ${where} answered 502 Bad Gateway for acme/tools@5` });
  standIn.failWith = 401;
  await assert.rejects(new OrbSource({ host }).orbVersion('acme/tools@5'), { message: `the orb registry ${where} answered 401 Unauthorized for acme/tools@5; a private orb needs a token: set CIRCLE_TOKEN` });
  standIn.failWith = undefined;

  const closed = await freePort();
  await assert.rejects(new OrbSource({ host: `http://127.0.0.1:${closed}` }).orbVersion('acme/tools@5'), (err: Error) => {
    assert.ok(err instanceof OrbFetchError);
    assert.match(err.message, new RegExp(`^cannot reach the orb registry 127\\.0\\.0\\.1:${closed} for acme/tools@5: connection refused; check the network`));
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });

  standIn.hang = true;
  const started = Date.now();
  await assert.rejects(new OrbSource({ host, connectTimeoutMs: 200, responseTimeoutMs: 300 }).orbVersion('acme/tools@5'), (err: Error) => {
    assert.match(err.message, new RegExp(`^cannot reach the orb registry ${where} for acme/tools@5: (it stopped answering|no answer within 0\\.5 s)`));
    return true;
  });
  assert.ok(Date.now() - started < 5000);
  standIn.hang = false;
});

test('a registry host must be a plain http(s) URL', () => {
  assert.equal(normalizeHost('https://circleci.example.com/'), 'https://circleci.example.com');
  assert.throws(() => normalizeHost('circleci.com'), /is not a URL: give one like https:\/\/circleci\.com/);
  assert.throws(() => normalizeHost('ftp://x'), /is a ftp: URL/);
  assert.throws(() => normalizeHost('https://u:p@x'), /plain host URL/);
});

