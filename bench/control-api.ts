/**
 * The control API (`deckhand serve`, a child process, local backend, real Docker jobs):
 *  (1) submit → first step output: from the POST of a one-job pipeline until the first step's
 *      line is in `GET /api/v1/jobs/ID/output` (polled every 5 ms). Floor: `deckhand execute` of
 *      the same job, from spawn until that line is on its stdout. Target: under floor + 150 ms.
 *  (2) status reads under 200 concurrent pollers (keep-alive connections on loopback), each
 *      reading `GET /api/v1/jobs/ID` of a running job again as soon as it has the answer, for a
 *      few seconds. Floor: a bare node:http server (a child process too) answering the same bytes.
 *      Target: p99 under 50 ms.
 * Rounds alternate floor and deckhand so that both see the same swings of this shared machine.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { freePort } from '../test/support/free-port.js';
import { oneJobConfig, ServeProcess } from '../test/support/serve-process.js';
import { executeUntil, middle } from './support.js';

const ROUNDS = Number(process.env.SERVE_ROUNDS ?? 5);
const POLLERS = Number(process.env.SERVE_POLLERS ?? 200);
const POLL_SECONDS = Number(process.env.SERVE_POLL_SECONDS ?? 5);
const MARK = 'bench-first-step';

const config = (mark: string, rest = ''): string => oneJobConfig('build', [`echo ${mark}${rest}`]);

/** `deckhand execute` of the job: ms from spawn until the mark is on its stdout. */
function executeToFirstStep(dir: string): Promise<number> {
  return executeUntil(dir, ['--job', 'build', '--log-file', join(dir, 'job.log')], (out) => out.includes(`
${MARK}`));
}

/** A pipeline submitted to the service: ms from the POST until the mark is in the job's output. */
async function serveToFirstStep(serve: ServeProcess, token: string): Promise<number> {
  const t0 = performance.now();
  const id = await serve.submit(token, config(MARK));
  let jobId: string | undefined;
  for (;;) {
    if (!jobId) {
      const p = await serve.request<{ workflows: { jobs: { id: string }[] }[] }>('GET', `/api/v1/pipelines/${id}`, { token });
      jobId = p.body.workflows[0]?.jobs[0]?.id;
    }
    if (jobId) {
      const out = await serve.request('GET', `/api/v1/jobs/${jobId}/output`, { token });
      if (out.text.includes(`\n${MARK}`)) break;
    }
    if (performance.now() - t0 > 60_000) throw new Error('the mark never showed in the output');
    await new Promise((r) => setTimeout(r, 5));
  }
  const seen = performance.now() - t0;
  await serve.waitFor(token, id, (p) => p.workflows[0].status !== 'running');
  return seen;
}

/** POLLERS loops reading `url` for POLL_SECONDS; every latency in ms, and requests per second. */
async function poll(url: string, token: string): Promise<{ latencies: number[]; rps: number }> {
  const agent = new Agent({ connections: POLLERS, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const until = performance.now() + POLL_SECONDS * 1000;
  const started = performance.now();
  let failures = 0;
  await Promise.all(
    Array.from({ length: POLLERS }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        const res = await request(url, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) failures++;
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  if (failures > 0) throw new Error(`${failures} status reads failed`);
  return { latencies, rps: latencies.length / seconds };
}

/** A bare node:http server in a child process answering `body` to every request. */
async function bareServer(body: string): Promise<{ url: string; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-bare-'));
  const port = await freePort();
  const file = join(dir, 'bare.cjs');
  writeFileSync(file, `const b = Buffer.from(${JSON.stringify(body)});\nrequire('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json; charset=utf-8', 'content-length': b.length}); s.end(b); }).listen(${port}, '127.0.0.1', () => process.stdout.write('up\\n'));\n`);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  return { url: `http://127.0.0.1:${port}/`, stop: () => (child.kill('SIGKILL'), rmSync(dir, { recursive: true, force: true })) };
}

const pct = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];

async function main(): Promise<void> {
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-serve-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), config(MARK));
  const serve = await ServeProcess.start();
  const token = serve.token('submit');
  try {
    // warm-up: the image, the code caches, the service's first job
    await executeToFirstStep(dir);
    await serveToFirstStep(serve, token);
    const floor: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      floor.push(await executeToFirstStep(dir));
      ours.push(await serveToFirstStep(serve, token));
    }
    const f = middle(floor);
    const o = middle(ours);
    console.log(`(1) submit → first step output: deckhand execute ${f.toFixed(0)} ms (rounds ${floor.map((x) => x.toFixed(0)).join(', ')}); serve ${o.toFixed(0)} ms (rounds ${ours.map((x) => x.toFixed(0)).join(', ')}); difference ${(o - f).toFixed(0)} ms; target < +150 ms: ${o - f < 150 ? 'met' : 'NOT met'}`);

    // (2) a job that runs while the pollers read its status
    const id = await serve.submit(token, config('polled', '; sleep 600'));
    const running = await serve.waitFor(token, id, (p) => p.workflows[0].jobs[0].status === 'running');
    const jobId = running.workflows[0].jobs[0].id;
    const jobUrl = `${serve.url}/api/v1/jobs/${jobId}`;
    const sample = await serve.request('GET', `/api/v1/jobs/${jobId}`, { token });
    const bare = await bareServer(sample.text);
    try {
      const rounds: { floor: { latencies: number[]; rps: number }; ours: { latencies: number[]; rps: number } }[] = [];
      for (let i = 0; i < 2; i++) rounds.push({ floor: await poll(bare.url, token), ours: await poll(jobUrl, token) });
      const all = (side: 'floor' | 'ours'): number[] => rounds.flatMap((r) => r[side].latencies);
      const rps = (side: 'floor' | 'ours'): string => rounds.map((r) => r[side].rps.toFixed(0)).join(', ');
      const line = (side: 'floor' | 'ours'): string => `p50 ${pct(all(side), 50).toFixed(1)} ms, p99 ${pct(all(side), 99).toFixed(1)} ms, ${rps(side)} req/s`;
      console.log(`(2) ${POLLERS} pollers, ${sample.text.length}-byte answers: bare node:http ${line('floor')}; serve GET /api/v1/jobs/ID ${line('ours')}; target p99 < 50 ms: ${pct(all('ours'), 99) < 50 ? 'met' : 'NOT met'}`);
    } finally {
      bare.stop();
      await serve.request('POST', `/api/v1/jobs/${jobId}/cancel`, { token });
      await serve.waitFor(token, id, (p) => p.workflows[0].status !== 'running');
    }
  } finally {
    await serve.kill('SIGTERM');
    await serve.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
