/**
 * A job's SSH status through the output protocol: the agent's gRPC sink sends each `ssh` event as
 * an SshStatus entry numbered with the steps' events, the real processor (in this process, over
 * real gRPC) stores it in the job's events and journal, replays it on its live tail, and shows
 * the latest in the job's JSON. The NDJSON renderer emits the event; the terminal renderer shows
 * nothing for it (the SSH sections already say it).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../../agent/daemon-log.js';
import type { JobEvent, SshStatus } from '../../../agent/output/events.js';
import { NdjsonSink } from '../../../agent/output/ndjson.js';
import { GrpcOutputSink } from '../../../agent/output/stream/grpc-sink.js';
import { HumanRenderer } from '../../../agent/output/terminal.js';
import { defaultSecretFile, startOutputProcessor, type RunningOutputProcessor } from '../../../agent/processor/index.js';
import { jobToken, loadSecret } from '../../../agent/processor/tokens.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const where = { command: 'ssh -p 64600 circleci@203.0.113.7', user: 'circleci', host: '203.0.113.7', port: 64600, hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExampl', hostKeyFingerprint: 'SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
const statuses: SshStatus[] = [
  { phase: 'listening', ...where, sessions: 0 },
  { phase: 'listening', ...where, sessions: 1 },
  { phase: 'holding', ...where, sessions: 1 },
  { phase: 'ended', ...where, sessions: 0 },
];

/** A job with SSH as the runner makes one: Enable SSH (-1 here is spin-up), a step, Wait for SSH. */
function jobEvents(): JobEvent[] {
  const t = Date.now();
  const ssh = (s: SshStatus): JobEvent => ({ type: 'ssh', time: t, ...s });
  return [
    { type: 'job-start', job: 'build', time: t, environment: { CI: 'true' } },
    { type: 'step-start', index: 0, name: 'Enable SSH', stepType: 'ssh', time: t, background: false },
    { type: 'output', index: 0, stream: 'agent', data: Buffer.from(`${where.command}\n`) },
    { type: 'step-end', index: 0, status: 'success', durationMs: 1 },
    ssh(statuses[0]),
    { type: 'step-start', index: 1, name: 'run', stepType: 'run', time: t, background: false },
    ssh(statuses[1]),
    { type: 'output', index: 1, stream: 'stdout', data: Buffer.from('hi\n') },
    { type: 'step-end', index: 1, status: 'success', exitCode: 0, durationMs: 1 },
    { type: 'step-start', index: 2, name: 'Wait for SSH', stepType: 'ssh', time: t, background: false },
    ssh(statuses[2]),
    ssh(statuses[3]),
    { type: 'step-end', index: 2, status: 'success', durationMs: 1 },
    { type: 'job-end', status: 'success', durationMs: 3 },
  ];
}

describe('SSH status through the output protocol', { timeout: 60_000 }, () => {
  let dir: string;
  let processor: RunningOutputProcessor;
  let secret: Buffer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deckhand-ssh-status-'));
    processor = await startOutputProcessor({ listen: '127.0.0.1:0', http: '127.0.0.1:0', dataDir: dir, logger: silentLogger });
    secret = loadSecret(defaultSecretFile(dir), false);
  });
  after(async () => {
    await processor?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const http = (path: string) => fetch(`http://127.0.0.1:${processor.httpPort}${path}`);

  test('stored as events among the steps, the latest in the job JSON, replayed on the live tail; the job verifies', async () => {
    const jobId = `ssh-status-${Date.now()}`;
    const sink = new GrpcOutputSink({ target: `127.0.0.1:${processor.grpcPort}`, jobId, token: jobToken(secret, jobId), stepCount: 3, jobName: 'build', deadlineMs: 20_000 });
    // the job JSON while the job holds: the status as it stands then
    const events = jobEvents();
    for (const e of events.slice(0, 11)) sink.event(e);
    await sink.admitted();
    let held: { ssh?: unknown } = {};
    for (let i = 0; i < 100 && (held.ssh as { phase?: string } | undefined)?.phase !== 'holding'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      held = (await (await http(`/api/jobs/${jobId}`)).json()) as { ssh?: unknown };
    }
    assert.deepEqual(held.ssh, { ...statuses[2], timeUnixMs: (held.ssh as { timeUnixMs: number }).timeUnixMs });
    for (const e of events.slice(11)) sink.event(e);
    await sink.close();
    assert.ok(sink.report()?.complete && sink.report()?.verified, JSON.stringify(sink.report()));

    const job = (await (await http(`/api/jobs/${jobId}`)).json()) as { status: string; ssh: Record<string, unknown>; steps: { name: string; status: string }[] };
    assert.equal(job.status, 'complete');
    const { timeUnixMs, ...last } = job.ssh;
    assert.deepEqual(last, statuses[3]);
    assert.equal(typeof timeUnixMs, 'number');
    assert.deepEqual(job.steps.map((s) => [s.name, s.status]), [['Enable SSH', 'success'], ['run', 'success'], ['Wait for SSH', 'success']]);
    assert.doesNotMatch(JSON.stringify(job), /PRIVATE KEY/);

    const stored = (await (await http(`/api/jobs/${jobId}/events`)).json()) as { seq: number; type: string; phase?: string; sessions?: number }[];
    assert.deepEqual(stored.map((e) => e.seq), stored.map((_, i) => i), 'one numbering for every event');
    assert.deepEqual(
      stored.map((e) => (e.type === 'ssh-status' ? `ssh:${e.phase}:${e.sessions}` : e.type)),
      ['step-started', 'step-finished', 'ssh:listening:0', 'step-started', 'ssh:listening:1', 'step-finished', 'step-started', 'ssh:holding:1', 'ssh:ended:0', 'step-finished', 'job-finished'],
    );

    // the live tail replays the stored statuses as `ssh-status` events
    const live = await http(`/api/jobs/${jobId}/live`);
    const text = await live.text();
    const phases = [...text.matchAll(/^event: ssh-status\ndata: (.*)$/gm)].map((m) => (JSON.parse(m[1]) as { phase: string }).phase);
    assert.deepEqual(phases, ['listening', 'listening', 'holding', 'ended']);
  });

  test('NDJSON emits the event as it is; the terminal says nothing for it', async () => {
    const e: JobEvent = { type: 'ssh', time: 5, ...statuses[0] };
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const ndjson = new NdjsonSink(out);
    ndjson.event(e);
    await ndjson.close();
    assert.deepEqual(JSON.parse(Buffer.concat(chunks).toString('utf8')), { type: 'ssh', time: 5, ...statuses[0] });
    const written: Buffer[] = [];
    const terminal = new HumanRenderer((b) => written.push(b), { color: false });
    terminal.render(e);
    assert.equal(Buffer.concat(written).length, 0);
  });
});
