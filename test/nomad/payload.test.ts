// The dispatch payload: the assignment as JSON or gzip read from a real file, Nomad's 16 KiB
// limit, every broken payload giving one clear line, and a reference fetched from a real HTTP
// server on 127.0.0.1 (bearer token, gzip body, error statuses, a server that never answers,
// refused connections, size limits).

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PayloadError } from '../../agent/nomad/payload-error.js';
import {
  NOMAD_DISPATCH_PAYLOAD_LIMIT,
  fetchAssignment,
  parseAssignmentReference,
  readDispatchPayload,
  resolvePayloadPath,
} from '../../agent/nomad/payload.js';

const ASSIGNMENT = {
  assignmentVersion: 1,
  spec: { jobName: 'build', steps: [{ run: { command: 'make test' } }] },
  run: { id: 'run-1', buildNumber: 42, nodeIndex: 0, nodeTotal: 1 },
  limits: { resourceClass: 'medium' },
};
const TOKEN = 's3cret-t0ken';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deckhand-payload-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCount = 0;
async function payloadFile(content: string | Buffer): Promise<string> {
  const folder = join(dir, `task-${++fileCount}`, 'local');
  await mkdir(folder, { recursive: true });
  const path = join(folder, 'payload');
  await writeFile(path, content);
  return path;
}

/** Runs `fn`, expecting a PayloadError of `kind` whose message matches every pattern, is one line, and never holds the token. */
async function rejectsWith(fn: () => Promise<unknown>, kind: PayloadError['kind'], ...patterns: RegExp[]): Promise<PayloadError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PayloadError, `expected a PayloadError, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  assert.doesNotMatch(caught.message, /\n/, 'one line');
  assert.ok(!caught.message.includes(TOKEN), `the token leaked: ${caught.message}`);
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

describe('payload file', () => {
  it('reads the assignment as JSON', async () => {
    const path = await payloadFile(JSON.stringify(ASSIGNMENT, null, 2));
    assert.deepEqual(await readDispatchPayload({ path }), ASSIGNMENT);
  });

  it('accepts a UTF-8 byte-order mark and non-ASCII text', async () => {
    const value = { ...ASSIGNMENT, run: { ...ASSIGNMENT.run, username: 'Zoë 🚢' } };
    const path = await payloadFile(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(value))]));
    assert.deepEqual(await readDispatchPayload({ path }), value);
  });

  it('reads gzipped JSON, recognised by its magic bytes, not by its name', async () => {
    const path = await payloadFile(gzipSync(JSON.stringify(ASSIGNMENT)));
    assert.ok(path.endsWith('/payload'));
    assert.deepEqual(await readDispatchPayload({ path }), ASSIGNMENT);
  });

  it('lets through an assignment larger than 16 KiB when gzipped under it', async () => {
    const big = { ...ASSIGNMENT, spec: { ...ASSIGNMENT.spec, steps: Array.from({ length: 2000 }, (_, i) => ({ run: { name: `step ${i}`, command: 'echo hello' } })) } };
    const json = JSON.stringify(big);
    assert.ok(json.length > 4 * NOMAD_DISPATCH_PAYLOAD_LIMIT);
    const gz = gzipSync(json);
    assert.ok(gz.length <= NOMAD_DISPATCH_PAYLOAD_LIMIT, `${gz.length} bytes`);
    assert.deepEqual(await readDispatchPayload({ path: await payloadFile(gz) }), big);
  });

  it('accepts exactly 16384 bytes and refuses 16385, giving the size and the limit', async () => {
    const json = JSON.stringify(ASSIGNMENT);
    const exact = await payloadFile(json + ' '.repeat(NOMAD_DISPATCH_PAYLOAD_LIMIT - json.length));
    assert.deepEqual(await readDispatchPayload({ path: exact }), ASSIGNMENT);
    const over = await payloadFile(json + ' '.repeat(NOMAD_DISPATCH_PAYLOAD_LIMIT + 1 - json.length));
    await rejectsWith(() => readDispatchPayload({ path: over }), 'input', /is 16385 bytes/, /limit of 16384 bytes \(16 KiB\)/, /gzip/, /assignmentUrl/, new RegExp(over));
  });

  it('refuses a truncated gzip', async () => {
    const gz = gzipSync(JSON.stringify(ASSIGNMENT));
    const path = await payloadFile(gz.subarray(0, gz.length - 12));
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /is gzip but cut short/, new RegExp(path));
  });

  it('refuses a corrupted gzip', async () => {
    const gz = gzipSync(JSON.stringify(ASSIGNMENT));
    gz[gz.length - 6] ^= 0xff; // in the CRC/length trailer
    const path = await payloadFile(gz);
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /not valid gzip/);
  });

  it('refuses a gzip bomb over the decompressed cap without inflating it all', async () => {
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    assert.ok(bomb.length <= NOMAD_DISPATCH_PAYLOAD_LIMIT, `${bomb.length} bytes`);
    const path = await payloadFile(bomb);
    await rejectsWith(() => readDispatchPayload({ path, maxDecompressedBytes: 1024 * 1024 }), 'input', /decompresses to more than 1 MiB/);
  });

  it('refuses invalid JSON, with the line and column of the position JSON.parse gives', async () => {
    const path = await payloadFile('{\n  "assignmentVersion": 1\n  "spec": {}\n}');
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /is not valid JSON \(Expected ',' or '}' after property value at line 3, column 3, position 29\)/, new RegExp(path));
  });

  it("refuses invalid JSON whose message only quotes V8's context, finding the line and column from it", async () => {
    const text = JSON.stringify(ASSIGNMENT, null, 2).replace('"make test"', 'make test');
    const path = await payloadFile(text);
    const line = text.split('\n').findIndex((l) => l.includes('make test')) + 1;
    const column = text.split('\n')[line - 1].indexOf('make test') + 1;
    await rejectsWith(() => readDispatchPayload({ path }), 'input', new RegExp(`is not valid JSON \\(Unexpected token 'm' at line ${line}, column ${column}, position ${text.indexOf('make test')}\\)`));
  });

  it('refuses a short invalid JSON, quoting it on one line', async () => {
    const path = await payloadFile('{"a":\n tru}');
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /is not valid JSON \(Unexpected token '}' near "\{\\"a\\":\\n tru\}"\)/);
  });

  it('refuses invalid gzipped JSON, saying it was decompressed', async () => {
    const path = await payloadFile(gzipSync('{"a": 1,}'));
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /not valid JSON once decompressed/);
  });

  it('refuses text that is not UTF-8', async () => {
    const path = await payloadFile(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /is not UTF-8 text/);
  });

  it('refuses a missing file, saying how the job must be set up', async () => {
    const path = join(dir, 'no-such-task', 'local', 'payload');
    await rejectsWith(() => readDispatchPayload({ path }), 'input', new RegExp(`payload file ${path} does not exist`), /parameterized job/, /dispatch_payload \{ file = "payload" \}/, /--payload FILE/);
  });

  it('refuses an empty file and a file of white space', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await payloadFile('') }), 'input', /is empty/, /dispatched without a payload/);
    await rejectsWith(async () => readDispatchPayload({ path: await payloadFile(' \n\t\n') }), 'input', /holds no JSON/);
  });

  it('refuses a directory', async () => {
    await rejectsWith(() => readDispatchPayload({ path: dir }), 'input', /is a directory/);
  });

  it('finds the file from --payload or the task directory', () => {
    assert.equal(resolvePayloadPath('/tmp/a.json', '/alloc/task/local'), '/tmp/a.json');
    assert.equal(resolvePayloadPath(undefined, '/alloc/task/local'), '/alloc/task/local/payload');
    assert.throws(() => resolvePayloadPath(undefined, undefined), (err: unknown) => err instanceof PayloadError && err.kind === 'input' && /NOMAD_TASK_DIR is not set.*--payload FILE/.test(err.message));
  });
});

describe('what counts as a reference', () => {
  it('is an object with exactly assignmentUrl and optionally tokenFile', () => {
    assert.deepEqual(parseAssignmentReference({ assignmentUrl: 'https://x/a' }), { assignmentUrl: 'https://x/a' });
    assert.deepEqual(parseAssignmentReference({ assignmentUrl: 'https://x/a', tokenFile: '/secrets/t' }), { assignmentUrl: 'https://x/a', tokenFile: '/secrets/t' });
  });

  it('anything else is the assignment itself', () => {
    assert.equal(parseAssignmentReference(ASSIGNMENT), undefined);
    assert.equal(parseAssignmentReference({ assignmentUrl: 'https://x/a', extra: 1 }), undefined);
    assert.equal(parseAssignmentReference({ tokenFile: '/t' }), undefined);
    assert.equal(parseAssignmentReference([{ assignmentUrl: 'https://x/a' }]), undefined);
    assert.equal(parseAssignmentReference('https://x/a'), undefined);
    assert.equal(parseAssignmentReference(null), undefined);
  });

  it('a reference-shaped object with a wrong value is a broken reference', () => {
    assert.throws(() => parseAssignmentReference({ assignmentUrl: 42 }), (err: unknown) => err instanceof PayloadError && /assignmentUrl is not a URL string/.test(err.message));
    assert.throws(() => parseAssignmentReference({ assignmentUrl: 'https://x/a', tokenFile: true }), (err: unknown) => err instanceof PayloadError && /tokenFile is not a file path/.test(err.message));
  });
});

interface TestServer {
  base: string;
  port: number;
  requests: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function serve(handler: RequestListener): Promise<TestServer> {
  const requests: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('reference fetched over HTTP', () => {
  let server: TestServer;
  let tokenFile: string;
  const json = Buffer.from(JSON.stringify(ASSIGNMENT));
  const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });

  before(async () => {
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    server = await serve((req, res) => {
      const authorized = req.headers.authorization === `Bearer ${TOKEN}`;
      switch (req.url) {
        case '/assignment':
          if (!authorized) {
            res.writeHead(401, { 'content-type': 'text/plain' }).end(`token ${req.headers.authorization ?? 'missing'} is not valid\n`);
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(json);
          return;
        case '/public':
          res.writeHead(200, { 'content-type': 'application/json' }).end(json);
          return;
        case '/gzip':
          if (!authorized) return void res.writeHead(401).end();
          res.writeHead(200, { 'content-type': 'application/gzip' }).end(gzipSync(json));
          return;
        case '/bomb':
          res.writeHead(200, { 'content-type': 'application/gzip' }).end(bomb);
          return;
        case '/big':
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 5000 }).end(Buffer.alloc(5000, 0x20));
          return;
        case '/big-chunked':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(Buffer.alloc(3000, 0x20));
          res.end(Buffer.alloc(3000, 0x20));
          return;
        case '/not-json':
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
          return;
        case '/nested':
          res.writeHead(200).end(JSON.stringify({ assignmentUrl: `${server.base}/public` }));
          return;
        case '/moved':
          res.writeHead(302, { location: '/public' }).end();
          return;
        case '/error':
          res.writeHead(500, { 'content-type': 'text/plain' }).end('database is down');
          return;
        case '/unavailable':
          res.writeHead(503).end();
          return;
        case '/silent':
          return; // accepts the request and never answers
        case '/cut':
          res.writeHead(200, { 'content-length': 1000 });
          res.write('{"assignmentVersion": 1,');
          setTimeout(() => res.destroy(), 50);
          return;
        default:
          res.writeHead(404, { 'content-type': 'text/plain' }).end('no such assignment');
      }
    });
  });
  after(() => server.close());

  /** A payload file holding a reference to `path` on the test server. */
  async function reference(path: string, withToken = true): Promise<string> {
    return payloadFile(JSON.stringify(withToken ? { assignmentUrl: `${server.base}${path}`, tokenFile } : { assignmentUrl: `${server.base}${path}` }));
  }

  it('fetches the assignment, sending the bearer token from tokenFile (trimmed)', async () => {
    const before = server.requests.length;
    assert.deepEqual(await readDispatchPayload({ path: await reference('/assignment') }), ASSIGNMENT);
    assert.equal(server.requests[before].authorization, `Bearer ${TOKEN}`);
  });

  it('sends no Authorization header without a tokenFile', async () => {
    const before = server.requests.length;
    assert.deepEqual(await readDispatchPayload({ path: await reference('/public', false) }), ASSIGNMENT);
    assert.equal(server.requests[before].authorization, undefined);
  });

  it('fetches a gzipped body', async () => {
    assert.deepEqual(await readDispatchPayload({ path: await reference('/gzip') }), ASSIGNMENT);
  });

  it('a gzipped payload may hold the reference', async () => {
    const path = await payloadFile(gzipSync(JSON.stringify({ assignmentUrl: `${server.base}/gzip`, tokenFile })));
    assert.deepEqual(await readDispatchPayload({ path }), ASSIGNMENT);
  });

  it('404: one line naming the URL, blamed on the input', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/gone') }), 'input', new RegExp(`${server.base}/gone answered 404 Not Found`), /no such assignment/, /check assignmentUrl/);
  });

  it('401: names the token file, never the token, even when the server echoes it', async () => {
    const wrong = join(dir, 'wrong-token');
    await writeFile(wrong, `${TOKEN}-old`);
    const path = await payloadFile(JSON.stringify({ assignmentUrl: `${server.base}/assignment`, tokenFile: wrong }));
    await rejectsWith(() => readDispatchPayload({ path }), 'input', /answered 401 Unauthorized/, new RegExp(`check the token in ${wrong}`));
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/assignment', false) }), 'input', /answered 401/, /has no tokenFile/);
  });

  it('500 and 503: infrastructure, to be retried', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/error') }), 'infrastructure', /answered 500 Internal Server Error \("database is down"\)/, /try the job again/);
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/unavailable') }), 'infrastructure', /answered 503 Service Unavailable/);
  });

  it('a redirect is not followed', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/moved') }), 'input', /answered 302 Found/, /redirects are not followed/);
  });

  it('a server that accepts but never answers times out', async () => {
    const started = Date.now();
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/silent'), connectTimeoutMs: 500, responseTimeoutMs: 500 }), 'infrastructure', new RegExp(`${server.base}/silent`), /did not answer within 500 ms|no complete answer within/);
    const took = Date.now() - started;
    assert.ok(took < 5000, `took ${took} ms`);
  });

  it('a connection cut mid-body is infrastructure', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/cut') }), 'infrastructure', /closed before the whole answer arrived/);
  });

  it('connection refused', async () => {
    const gone = await serve(() => undefined);
    await gone.close();
    const path = await payloadFile(JSON.stringify({ assignmentUrl: `${gone.base}/assignment`, tokenFile }));
    await rejectsWith(() => readDispatchPayload({ path }), 'infrastructure', new RegExp(`from ${gone.base}/assignment: connection refused`), /server is up/);
  });

  it('a body over the size limit, declared or not', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/big'), maxBodyBytes: 1000 }), 'input', /is 5000 bytes, over the agent's limit of 1000 bytes/);
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/big-chunked'), maxBodyBytes: 1000 }), 'input', /is more than 1000 bytes, over the agent's limit/);
  });

  it('a gzip bomb over the default 64 MiB cap', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/bomb') }), 'input', /decompresses to more than 64 MiB/);
  });

  it('a body that is not JSON names the URL', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/not-json') }), 'input', new RegExp(`the assignment at ${server.base}/not-json is not valid JSON`));
  });

  it('a reference leading to another reference is refused', async () => {
    await rejectsWith(async () => readDispatchPayload({ path: await reference('/nested') }), 'input', /is itself a reference/);
  });

  it('shows the URL without credentials or query', async () => {
    const url = `http://someone:pa55word@127.0.0.1:${server.port}/gone?signature=abc123`;
    const err = await rejectsWith(() => fetchAssignment({ assignmentUrl: url }), 'input', new RegExp(`http://127\\.0\\.0\\.1:${server.port}/gone\\?… answered 404`));
    assert.doesNotMatch(err.message, /pa55word|abc123|someone/);
  });

  it('only http: and https: URLs', async () => {
    await rejectsWith(() => fetchAssignment({ assignmentUrl: 'file:///etc/passwd' }), 'input', /is a file: URL: only http: and https: URLs are fetched/);
    await rejectsWith(() => fetchAssignment({ assignmentUrl: 'not a url' }), 'input', /not a valid URL/);
  });

  it('a missing or empty token file', async () => {
    await rejectsWith(() => fetchAssignment({ assignmentUrl: `${server.base}/assignment`, tokenFile: join(dir, 'no-token') }), 'input', /token file .*no-token .* does not exist/);
    const empty = join(dir, 'empty-token');
    await writeFile(empty, '\n');
    await rejectsWith(() => fetchAssignment({ assignmentUrl: `${server.base}/assignment`, tokenFile: empty }), 'input', /is empty/);
  });

  it("the caller's signal cancels a fetch under way", async () => {
    const controller = new AbortController();
    const reason = new Error('job canceled');
    setTimeout(() => controller.abort(reason), 100);
    await assert.rejects(fetchAssignment({ assignmentUrl: `${server.base}/silent` }, { signal: controller.signal }), (err: unknown) => err === reason);
  });
});
