/**
 * Rerun with SSH through the control API, to the line a person types: from the POST of
 * `/api/v1/jobs/ID/rerun` with `{"ssh": true}` until `GET /api/v1/jobs/NEW` shows `ssh -p PORT
 * USER@HOST` (polled every 5 ms), on the local backend and on the Nomad backend (against the
 * harness's stand-in Nomad running each task for real; there the line travels from the task's
 * agent through the output processor to the service). Floor: `deckhand execute --ssh` of the same
 * job, from spawn until the same line is on its stdout. All wait 1 s for a session that does not
 * come, then end. Rounds alternate floor and services so that all see the same swings of this
 * shared machine.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientKey } from '../test/support/openssh.js';
import { jobNamed, oneJobConfig, ServeProcess } from '../test/support/serve-process.js';
import { startStandInNomad } from './nomad-standin.js';
import { executeUntil, middle } from './support.js';

const ROUNDS = Number(process.env.RERUN_SSH_ROUNDS ?? 5);
const LINE = /^ssh -p \d+ \S+@127\.0\.0\.1$/m;

const CONFIG = oneJobConfig('build', ['echo built']);

/** `deckhand execute --ssh`: ms from spawn until the ssh line is on its stdout. */
function executeToLine(dir: string, keyFile: string): Promise<number> {
  return executeUntil(dir, ['--job', 'build', '--ssh', '--ssh-authorized-keys', keyFile, '--ssh-host', '127.0.0.1', '--ssh-wait', '1s'], (out) => LINE.test(out));
}

/** A rerun with SSH: ms from the POST until the job's answer has the ssh line. */
async function rerunToLine(serve: ServeProcess, token: string, jobId: string, publicKey: string): Promise<number> {
  const t0 = performance.now();
  const r = await serve.request<{ id: string }>('POST', `/api/v1/jobs/${jobId}/rerun`, { token, json: { ssh: true, authorized_keys: [publicKey] } });
  if (r.status !== 201) throw new Error(`rerun: ${r.status} ${r.text}`);
  let seen = -1;
  for (;;) {
    const j = await serve.request<{ status: string; ssh?: { command: string | null } }>('GET', `/api/v1/jobs/${r.body.id}`, { token });
    if (seen < 0 && j.body.ssh?.command && LINE.test(j.body.ssh.command)) seen = performance.now() - t0;
    if (['success', 'failed', 'canceled', 'infrastructure_fail'].includes(j.body.status)) break;
    if (performance.now() - t0 > 60_000) throw new Error(`the rerun did not end: ${j.text}`);
    await new Promise((res) => setTimeout(res, seen < 0 ? 5 : 100));
  }
  if (seen < 0) throw new Error('the ssh line never showed in the job\'s answer');
  return seen;
}

/** A service whose first run of CONFIG has ended; the job to rerun. */
async function readyService(args: string[], env: Record<string, string> = {}): Promise<{ serve: ServeProcess; token: string; jobId: string }> {
  const serve = await ServeProcess.start(['--ssh-wait', '1s', ...args], env);
  const token = serve.token('submit');
  const pipeline = await serve.submit(token, CONFIG);
  const done = await serve.waitFor(token, pipeline, (p) => p.workflows[0].status !== 'running');
  return { serve, token, jobId: jobNamed(done, 'build').id };
}

const rounds = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(', ');

async function main(): Promise<void> {
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' / ')}`);
  const key = clientKey('bench');
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-rerun-ssh-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), CONFIG);
  const nomad = await startStandInNomad(dir);
  const local = await readyService([]);
  const onNomad = nomad ? await readyService(['--backend', 'nomad'], { NOMAD_ADDR: nomad.address }) : undefined;
  try {
    // warm-up: the image, the code caches, the SSH server's first key
    await executeToLine(dir, key.publicPath);
    await rerunToLine(local.serve, local.token, local.jobId, key.publicKey);
    if (onNomad) await rerunToLine(onNomad.serve, onNomad.token, onNomad.jobId, key.publicKey);
    const floor: number[] = [];
    const ours: number[] = [];
    const viaNomad: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      floor.push(await executeToLine(dir, key.publicPath));
      ours.push(await rerunToLine(local.serve, local.token, local.jobId, key.publicKey));
      if (onNomad) viaNomad.push(await rerunToLine(onNomad.serve, onNomad.token, onNomad.jobId, key.publicKey));
    }
    const f = middle(floor);
    const o = middle(ours);
    console.log(`rerun with SSH → ssh line: deckhand execute --ssh ${f.toFixed(0)} ms (rounds ${rounds(floor)}); serve ${o.toFixed(0)} ms (rounds ${rounds(ours)}); difference ${(o - f).toFixed(0)} ms`);
    if (onNomad) {
      const n = middle(viaNomad);
      console.log(`  on the Nomad backend (stand-in Nomad, task run for real): serve ${n.toFixed(0)} ms (rounds ${rounds(viaNomad)}); difference ${(n - f).toFixed(0)} ms`);
    }
  } finally {
    for (const s of [local.serve, onNomad?.serve]) {
      if (!s) continue;
      await s.kill('SIGTERM');
      await s.stop();
    }
    await nomad?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
