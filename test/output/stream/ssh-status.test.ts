/**
 * A job's SSH status through the output protocol: the agent's gRPC sink sends each `ssh` event as
 * an SshStatus entry numbered with the steps' events, the real processor (in this process, over
 * real gRPC) stores it in the job's events and journal, replays it on its live tail, and shows
 * the latest in the job's JSON. A status made before the processor answered waits for its word,
 * and only the latest goes. A processor of the protocol before SshStatus existed (its Resume
 * does not say it takes them; an entry it cannot read is refused) gets none, and the job is
 * delivered whole. The NDJSON renderer emits the event; the terminal renderer shows nothing for it
 * (the SSH sections already say it).
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
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadSync } from '@grpc/proto-loader';
import { Server, ServerCredentials, status, type ServerDuplexStream, type ServiceDefinition } from '@grpc/grpc-js';
import { LOADER_OPTIONS, PROTO_PATH, SERVICE_NAME, type AgentFrame, type Entry, type ProcessorFrame } from '../../../agent/output/wire/protocol.js';
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
    // the processor says it takes SSH status in its Resume: wait for it, so every status goes
    sink.event(events[0]);
    await sink.admitted();
    for (const e of events.slice(1, 11)) sink.event(e);
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

  test('statuses made before the processor answered: the latest goes once it says it takes them', async () => {
    const jobId = `ssh-status-early-${Date.now()}`;
    const sink = new GrpcOutputSink({ target: `127.0.0.1:${processor.grpcPort}`, jobId, token: jobToken(secret, jobId), stepCount: 1, jobName: 'build', deadlineMs: 20_000 });
    // one tick: no Resume can have arrived
    sink.event({ type: 'job-start', job: 'build', time: Date.now(), environment: {} });
    sink.event({ type: 'ssh', time: 1, ...statuses[0] });
    sink.event({ type: 'ssh', time: 2, ...statuses[1] });
    await sink.admitted();
    // the job ends in the same tick as its admission: delivery must not wait for its deadline
    const ending = Date.now();
    sink.event({ type: 'job-end', status: 'success', durationMs: 1 });
    await sink.close();
    assert.ok(Date.now() - ending < 5_000, `delivered ${Date.now() - ending} ms after the end`);
    assert.ok(sink.report()?.verified, JSON.stringify(sink.report()));
    const stored = (await (await http(`/api/jobs/${jobId}/events`)).json()) as { type: string; sessions?: number }[];
    assert.deepEqual(stored.map((e) => (e.type === 'ssh-status' ? `ssh:${e.sessions}` : e.type)), ['ssh:1', 'job-finished']);
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

/**
 * A processor of the protocol as it was before SshStatus: the same proto without `ssh_status` and
 * `takes_ssh_status`, over real gRPC. It stores nothing; it answers as the processor did (Resume,
 * then Ack and Complete for JobFinished) and refuses an entry with no member it knows, as the
 * processor of that time did, which would lose the job's stream.
 */
async function olderProcessor(dir: string): Promise<{ target: string; entries: Entry[]; refused: string[]; close(): Promise<void> }> {
  const text = readFileSync(PROTO_PATH, 'utf8').replace(/^.*SshStatus ssh_status = 5;\n/m, '').replace(/^.*bool takes_ssh_status = 3;\n/m, '');
  assert.doesNotMatch(text, /ssh_status/);
  const file = join(dir, 'output-before-ssh.proto');
  writeFileSync(file, text);
  const service = loadSync(file, LOADER_OPTIONS)[SERVICE_NAME] as ServiceDefinition;
  const entries: Entry[] = [];
  const refused: string[] = [];
  const server = new Server();
  server.addService(service, {
    Stream(call: ServerDuplexStream<AgentFrame, ProcessorFrame>) {
      call.on('data', (frame: AgentFrame) => {
        if (frame.open) return void call.write({ resume: { streams: [], nextEventSeq: 0 } });
        for (const e of frame.batch?.entries ?? []) {
          if (!e.entry) {
            refused.push('an Entry with none of chunk, step_started, step_finished, job_finished set');
            return void call.emit('error', { code: status.INVALID_ARGUMENT, details: refused[0] });
          }
          entries.push(e);
          if (e.jobFinished) {
            const streams = e.jobFinished.streams.map((t) => ({ step: t.step, stream: t.stream, offset: t.bytes }));
            call.write({ ack: { streams, nextEventSeq: e.jobFinished.seq + 1 } });
            call.write({ complete: { verified: true, message: '' } });
          }
        }
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { target: `127.0.0.1:${port}`, entries, refused, close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

describe('SSH status and a processor that predates it', { timeout: 60_000 }, () => {
  test('no SshStatus is sent; every other event and byte is, numbered without a gap, and the job is complete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deckhand-older-processor-'));
    const older = await olderProcessor(dir);
    try {
      const sink = new GrpcOutputSink({ target: older.target, jobId: 'older-1', token: 'any', stepCount: 3, jobName: 'build', deadlineMs: 20_000 });
      const events = jobEvents();
      sink.event(events[0]);
      await sink.admitted();
      for (const e of events.slice(1)) sink.event(e);
      await sink.close();
      assert.deepEqual(older.refused, []);
      assert.ok(sink.report()?.complete && sink.report()?.verified, JSON.stringify(sink.report()));
      const seqs = older.entries.flatMap((e) => [e.stepStarted?.seq, e.stepFinished?.seq, e.jobFinished?.seq].filter((x) => x !== undefined));
      assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5, 6]);
      assert.equal(older.entries.filter((e) => e.chunk).length, 2);
    } finally {
      await older.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

