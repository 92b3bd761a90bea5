/**
 * `deckhand output-processor` as a process: bound ports in its JSON log, tokens from the CLI,
 * a million tiny messages with memory bounded while another job is served, graceful exit on
 * SIGTERM, usage errors.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { packagePath } from '../../agent/package-root.js';
import { peakMemoryKb } from '../support/peak-memory.js';
import { get, openFrame, RawStream, sha256, streamJob, TestStream, type TestProcessor } from './support.js';

const BIN = packagePath('bin', 'deckhand.js');

/** Starts the CLI; resolves with its ports once it logged them. */
async function startCli(dataDir: string): Promise<{ child: ChildProcess; grpcPort: number; httpPort: number; log: string[] }> {
  const child = spawn(process.execPath, [BIN, 'output-processor', '--listen', '127.0.0.1:0', '--http', '127.0.0.1:0', '--data', dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let at: number;
      while ((at = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, at);
        buf = buf.slice(at + 1);
        log.push(line);
        const o = JSON.parse(line) as { msg: string; grpcPort?: number; httpPort?: number };
        if (o.msg === 'output processor listening') resolve({ child, grpcPort: o.grpcPort!, httpPort: o.httpPort!, log });
      }
    });
    child.on('exit', (code) => reject(new Error(`output-processor exited ${code}: ${log.join('\n')}`)));
  });
}

describe('deckhand output-processor (the command)', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('serves on the ports it logs, takes tokens minted by `token`, exits 0 on SIGTERM', async () => {
    const data = mkdtempSync(join(tmpdir(), 'deckhand-processor-cli-'));
    dirs.push(data);
    const { child, grpcPort, httpPort, log } = await startCli(data);
    children.push(child);
    assert.equal(statSync(join(data, 'secret')).mode & 0o777, 0o600);
    const token = (id: string): string => execFileSync(process.execPath, [BIN, 'output-processor', 'token', '--data', data, id], { encoding: 'utf8' }).trim();
    assert.match(token('job-cli'), /^[0-9a-f]{64}$/);
    const p = { target: `127.0.0.1:${grpcPort}`, http: `http://127.0.0.1:${httpPort}`, token } as unknown as TestProcessor;
    const out = Buffer.from('from the command line\n');
    assert.equal((await streamJob(p, 'job-cli', [{ name: 'cli', stdout: out }])).complete?.verified, true);
    assert.ok((await get(`${p.http}/api/jobs/job-cli/steps/0/output`)).body.equals(out));

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0);
    const lines = log.map((l) => JSON.parse(l) as { time: string; level: string; msg: string });
    for (const l of lines) assert.ok(l.time && l.level && l.msg, JSON.stringify(l));
    assert.ok(lines.some((l) => l.msg === 'output processor stopped'));
  });

  it('takes a million one-byte messages and a million one-byte entries in batches: memory bounded, another job served meanwhile', async (t) => {
    const data = mkdtempSync(join(tmpdir(), 'deckhand-processor-flood-'));
    dirs.push(data);
    const { child, grpcPort, httpPort } = await startCli(data);
    children.push(child);
    const token = (id: string): string => execFileSync(process.execPath, [BIN, 'output-processor', 'token', '--data', data, id], { encoding: 'utf8' }).trim();
    const p = { target: `127.0.0.1:${grpcPort}`, http: `http://127.0.0.1:${httpPort}`, token } as unknown as TestProcessor;
    const n = 1_000_000;
    const bytes = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bytes[i] = 0x61 + (i % 26);
    const jobFinished = RawStream.frame({ batch: { entries: [{ jobFinished: { seq: 0, status: 'success', durationMs: 1, streams: [{ step: 0, stream: 'STDOUT', bytes: n, sha256: sha256(bytes) }] } }] } });

    // (1) one gRPC message per byte, written in bulk over raw HTTP/2 as fast as flow control allows
    const raw = new RawStream(p.target, token('job-million'));
    const flood = (async () => {
      await raw.write(RawStream.frame(openFrame('job-million')));
      for (let i = 0; i < n; i += 10_000) {
        const messages: Buffer[] = [];
        for (let j = i; j < i + 10_000; j++) messages.push(RawStream.frame({ batch: { entries: [{ chunk: { step: 0, stream: 'STDOUT', offset: j, data: bytes.subarray(j, j + 1) } }] } }));
        await raw.write(Buffer.concat(messages));
      }
      raw.end(jobFinished);
      return raw.trailers;
    })();
    // meanwhile, once the flood is being stored, another job streams and is served in full
    const until = Date.now() + 30_000;
    while (raw.ackedStdout(0) < 100_000 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(raw.ackedStdout(0) >= 100_000, `the flood was not being stored: ${raw.ackedStdout(0)} bytes acknowledged in 30 s`);
    const t0 = Date.now();
    const other = Buffer.alloc(300_000, 'meanwhile\n');
    assert.equal((await streamJob(p, 'job-meanwhile', [{ name: 'meanwhile', stdout: other }])).complete?.verified, true);
    assert.ok((await get(`${p.http}/api/jobs/job-meanwhile/steps/0/output`)).body.equals(other));
    assert.equal((await get(`${p.http}/status`)).status, 200);
    const meanwhileMs = Date.now() - t0;
    assert.ok(raw.ackedStdout(0) < n, 'the flood ended before the other job was served: the test proves nothing');
    assert.ok(meanwhileMs < 10_000, `another job took ${meanwhileMs} ms during the flood`);

    const trailers = await flood;
    raw.close();
    assert.equal(trailers['grpc-status'], '0', JSON.stringify(trailers));
    assert.deepEqual(raw.received.find((f) => f.complete)?.complete, { verified: true, message: '' });
    assert.ok((await get(`${p.http}/api/jobs/job-million/steps/0/output`)).body.equals(bytes));

    // (2) a million one-byte entries again, a thousand to a message, through a gRPC client
    const s = new TestStream(p.target, token('job-million-batched'));
    await s.send(openFrame('job-million-batched'));
    await s.resume();
    for (let i = 0; i < n; i += 1000) {
      await s.send({ batch: { entries: Array.from({ length: 1000 }, (_, k) => ({ chunk: { step: 0, stream: 'STDOUT' as const, offset: i + k, data: bytes.subarray(i + k, i + k + 1) } })) } });
    }
    await s.send({ batch: { entries: [{ jobFinished: { seq: 0, status: 'success', durationMs: 1, streams: [{ step: 0, stream: 'STDOUT', bytes: n, sha256: sha256(bytes) }] } }] } });
    assert.equal((await s.complete()).complete?.verified, true);
    s.end();
    assert.ok((await get(`${p.http}/api/jobs/job-million-batched/steps/0/output`)).body.equals(bytes));

    const peak = peakMemoryKb(child.pid!) ?? NaN;
    t.diagnostic(`other job served in ${meanwhileMs} ms during the flood; processor peak RSS ${peak} KB`);
    assert.ok(peak < 250_000, `the processor's peak RSS was ${peak} KB`);
    child.kill('SIGTERM');
    assert.equal(await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c))), 0);
  });

  it('refuses bad flags with one line and exit 2', () => {
    for (const args of [
      ['output-processor', '--listen', '127.0.0.1:0'],
      ['output-processor', '--data', '/tmp/x', '--listen', 'nowhere'],
      ['output-processor', '--data', '/tmp/x', '--tls-cert', 'only-cert.pem'],
      ['output-processor', '--data', '/tmp/x', '--bogus'],
      ['output-processor', 'token', 'job'],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\bat .*\.js:\d+/);
    }
  });
});
