/**
 * `deckhand artifacts serve` over real HTTP, on artifacts put into a real filesystem store: the
 * bytes, the content type of every kind, the safety headers, Range, indexes, traversal attempts,
 * malformed requests, the log lines, and a clean stop on SIGTERM and SIGINT.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { AS_TEXT, DOWNLOAD, get, putArtifacts, SAFE, serve, type Serving } from './artifacts-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'deckhand-artifacts-serve-'));
const storeDir = join(dir, 'store');
const store = new FsBlobStore(storeDir);
const RUN = 'run-serve';
const BIG = randomBytes(3 * 1024 * 1024 + 17);
const files: Record<string, Buffer> = { 'big.bin': BIG, 'odd/<b>&"name".txt': Buffer.from('odd name\n'), 'sp ace/ü.txt': Buffer.from('unicode\n') };
for (const [name] of SAFE) files[`safe/${name}`] = randomBytes(64);
for (const name of [...AS_TEXT, ...DOWNLOAD]) files[`other/${name}`] = Buffer.from(`<script>alert("${name}")</script>`);
let server: Serving;

before(async () => {
  await putArtifacts(store, RUN, files);
  // a secret beside the store: what traversal attempts aim for
  await store.put('caches/secret', (await import('node:stream')).Readable.from([Buffer.from('SECRET')]));
  server = await serve(storeDir);
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const path = (p: string): string => `/artifacts/${RUN}/${p.split('/').map(encodeURIComponent).join('/')}`;

function assertSafetyHeaders(headers: Record<string, unknown>, what: string): void {
  assert.equal(headers['x-content-type-options'], 'nosniff', what);
  assert.equal(headers['content-security-policy'], "default-src 'none'; sandbox", what);
}

describe('artifacts serve', () => {
  test('prints its URL and serves a 3 MiB artifact byte for byte', async () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/artifacts\/$/);
    const r = await get(server.origin, path('big.bin'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(BIG.length));
    assert.ok(r.body.equals(BIG));
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.match(String(r.headers['content-disposition']), /^attachment; filename="big\.bin"/);
  });

  test('each type of the allowed list is served as itself, inline', async () => {
    for (const [name, type] of SAFE) {
      const r = await get(server.origin, path(`safe/${name}`));
      assert.equal(r.status, 200, name);
      assert.equal(r.headers['content-type'], type, name);
      assert.match(String(r.headers['content-disposition']), /^inline;/, name);
      assert.ok(r.body.equals(files[`safe/${name}`]), name);
      assertSafetyHeaders(r.headers, name);
    }
  });

  test('html, js, css, xml and svg are text/plain; unknown types are attachments', async () => {
    for (const name of AS_TEXT) {
      const r = await get(server.origin, path(`other/${name}`));
      assert.equal(r.status, 200, name);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', name);
      assert.ok(r.body.equals(files[`other/${name}`]), name);
      assertSafetyHeaders(r.headers, name);
    }
    for (const name of DOWNLOAD) {
      const r = await get(server.origin, path(`other/${name}`));
      assert.equal(r.status, 200, name);
      assert.equal(r.headers['content-type'], 'application/octet-stream', name);
      assert.match(String(r.headers['content-disposition']), /^attachment;/, name);
      assertSafetyHeaders(r.headers, name);
    }
  });

  test('Range: one range, a suffix, an open end; out of range is 416', async () => {
    let r = await get(server.origin, path('big.bin'), { range: 'bytes=1048570-2097160' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 1048570-2097160/${BIG.length}`);
    assert.ok(r.body.equals(BIG.subarray(1048570, 2097161)));
    r = await get(server.origin, path('big.bin'), { range: 'bytes=-10' });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(BIG.subarray(BIG.length - 10)));
    r = await get(server.origin, path('big.bin'), { range: `bytes=${BIG.length - 3}-` });
    assert.ok(r.body.equals(BIG.subarray(BIG.length - 3)));
    r = await get(server.origin, path('big.bin'), { range: `bytes=${BIG.length}-` });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${BIG.length}`);
    assertSafetyHeaders(r.headers, '416');
  });

  test('a job run index: JSON when asked, else HTML with names escaped; /artifacts/ lists job runs', async () => {
    const j = await get(server.origin, `/artifacts/${RUN}/`, { accept: 'application/json' });
    assert.equal(j.status, 200);
    assert.equal(j.headers['content-type'], 'application/json; charset=utf-8');
    const index = JSON.parse(j.body.toString()) as { jobRunId: string; artifacts: { path: string; size: number; url: string; contentType: string }[] };
    assert.equal(index.jobRunId, RUN);
    assert.deepEqual(index.artifacts.map((a) => a.path), Object.keys(files).sort());
    const big = index.artifacts.find((a) => a.path === 'big.bin');
    assert.equal(big?.size, BIG.length);
    const svg = index.artifacts.find((a) => a.path === 'other/logo.svg');
    assert.equal(svg?.contentType, 'text/plain; charset=utf-8');
    const odd = index.artifacts.find((a) => a.path === 'sp ace/ü.txt');
    assert.ok(odd);
    assert.equal((await get(server.origin, odd.url)).body.toString(), 'unicode\n');

    const h = await get(server.origin, `/artifacts/${RUN}/`);
    assert.equal(h.headers['content-type'], 'text/html; charset=utf-8');
    assertSafetyHeaders(h.headers, 'html index');
    const html = h.body.toString();
    assert.ok(html.includes('&#60;b&#62;&#38;&#34;name&#34;.txt'), html);
    assert.ok(!html.includes('<b>&'));
    assert.ok(html.includes(`href="/artifacts/${RUN}/odd/%3Cb%3E%26%22name%22.txt"`));

    const runs = JSON.parse((await get(server.origin, '/artifacts/', { accept: 'application/json' })).body.toString()) as { jobRuns: { jobRunId: string; artifacts: number }[] };
    assert.deepEqual(runs.jobRuns.map((r) => [r.jobRunId, r.artifacts]), [[RUN, Object.keys(files).length]]);
    const redirect = await get(server.origin, `/artifacts/${RUN}`);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, `/artifacts/${RUN}/`);
  });

  test('unknown job run or path: 404; other methods: 405; HEAD: headers only', async () => {
    assert.equal((await get(server.origin, '/artifacts/no-such-run/')).status, 404);
    assert.equal((await get(server.origin, '/artifacts/no-such-run/a.txt')).status, 404);
    const missing = await get(server.origin, path('nope.txt'));
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.body.toString()).error as string, /has no artifact nope\.txt/);
    assert.equal((await get(server.origin, '/elsewhere')).status, 404);
    const post = await get(server.origin, path('big.bin'), {}, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const head = await get(server.origin, path('big.bin'), {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(BIG.length));
    assert.equal(head.body.length, 0);
  });

  test('traversal attempts are refused, and never reach other keys', async () => {
    const attempts = [
      '/artifacts/x/../../etc/passwd',
      `/artifacts/${RUN}/../../caches/secret`,
      `/artifacts/${RUN}/%2e%2e/%2e%2e/caches/secret`,
      `/artifacts/${RUN}/%2E%2E/big.bin`,
      `/artifacts/${RUN}/..%2f..%2fcaches%2fsecret`,
      `/artifacts/${RUN}/other%2Fapp.js`,
      `/artifacts/${RUN}/..%5c..%5ccaches`,
      `/artifacts/${RUN}/..\\..\\caches\\secret`,
      `/artifacts/${RUN}/safe/%00.txt`,
      `/artifacts/${RUN}/./big.bin`,
      `/artifacts/${RUN}//big.bin`,
      `/artifacts/${RUN}/%E0%A4%A`,
      '/artifacts/../caches/secret',
      '/artifacts/%2e%2e/caches/secret',
      '/artifacts/.../x',
    ];
    for (const p of attempts) {
      const r = await get(server.origin, p);
      assert.equal(r.status, 400, p);
      assert.ok(!r.body.includes('SECRET'), p);
      assertSafetyHeaders(r.headers, p);
    }
    // still serving
    assert.equal((await get(server.origin, path('safe/notes.txt'))).status, 200);
  });

  test('a malformed request gets 400, a literal NUL too, and the server keeps serving', async () => {
    for (const raw of ['GARBAGE\r\n\r\n', `GET /artifacts/${RUN}/a\0b HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n']) {
      const answer = await new Promise<string>((resolve, reject) => {
        const { hostname, port } = new URL(server.origin);
        const s = connect(Number(port), hostname, () => s.end(raw));
        let got = '';
        s.on('data', (c: Buffer) => (got += c.toString('latin1')));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
      assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(raw));
    }
    assert.equal((await get(server.origin, path('safe/notes.txt'))).status, 200);
  });

  test('logs one JSON line per request to stderr', async () => {
    await get(server.origin, path('safe/data.json'), { 'x-probe': '1' });
    await new Promise((r) => setTimeout(r, 100));
    const lines = server.log().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    const mine = requests.filter((l) => l.path === path('safe/data.json'));
    assert.equal(mine.length, 2, JSON.stringify(mine)); // the safe-list test fetched it once too
    assert.equal(mine[1].status, 200);
    assert.equal(mine[1].bytes, 64);
    assert.equal(mine[1].method, 'GET');
    assert.ok(requests.some((l) => l.status === 400 && l.path === '/artifacts/x/../../etc/passwd'));
    assert.ok(lines.some((l) => l.msg === 'bad request'));
  });
});

describe('artifacts serve stops cleanly', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`on ${signal}: exit 0, port closed`, async () => {
      const s = await serve(storeDir);
      assert.equal((await get(s.origin, path('safe/notes.txt'))).status, 200);
      const r = await s.stop(signal);
      assert.deepEqual([r.code, r.signal], [0, null], s.log());
      assert.ok(r.ms < 5_000, `took ${r.ms} ms`);
      assert.match(s.log(), /"msg":"shutting down"/);
      await assert.rejects(get(s.origin, '/artifacts/'), /ECONNREFUSED/);
    });
  }
});
