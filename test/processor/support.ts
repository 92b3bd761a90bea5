/**
 * A small OutputProcessor client for tests and the benchmark: grpc-js plus the protocol module,
 * independent of the agent's own sender, so the processor is checked against the protocol, not
 * against one client. Also: start a processor on free ports, build a job's entries.
 */
import { createHash } from 'node:crypto';
import { connect, constants as h2 } from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, makeGenericClientConstructor, Metadata, type ChannelCredentials, type Client, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { CLIENT_KEEPALIVE, outputProcessorService, type AgentFrame, type Entry, type ProcessorFrame, type StreamKindName } from '../../agent/output/wire/protocol.js';
import { startOutputProcessor, type OutputProcessorOptions, type RunningOutputProcessor } from '../../agent/processor/index.js';
import { silentLogger, type LogFields, type Logger, type LogLevel } from '../../agent/daemon-log.js';
import { jobToken, loadSecret } from '../../agent/processor/tokens.js';

export interface TestProcessor {
  running: RunningOutputProcessor;
  dataDir: string;
  target: string;
  http: string;
  token(jobId: string): string;
  /** stops it (data kept) */
  stop(): Promise<void>;
  /** stops it and removes its data */
  dispose(): Promise<void>;
}

/** A processor on free loopback ports, with a fresh data directory unless one is given. */
export async function startTestProcessor(options: Partial<OutputProcessorOptions> = {}): Promise<TestProcessor> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'deckhand-processor-'));
  const running = await startOutputProcessor({ listen: '127.0.0.1:0', http: '127.0.0.1:0', logger: silentLogger, ...options, dataDir });
  const secret = loadSecret(join(dataDir, 'secret'), false);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await running.close();
  };
  return {
    running,
    dataDir,
    target: `127.0.0.1:${running.grpcPort}`,
    http: `http://127.0.0.1:${running.httpPort}`,
    token: (jobId) => jobToken(secret, jobId),
    stop,
    async dispose() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type StreamCall = ClientDuplexStream<AgentFrame, ProcessorFrame>;
interface OutputProcessorClient extends Client {
  Stream(metadata: Metadata): StreamCall;
}
const ClientCtor = makeGenericClientConstructor({ Stream: outputProcessorService.Stream }, 'OutputProcessor') as unknown as new (
  target: string,
  creds: ChannelCredentials,
  options: object,
) => OutputProcessorClient;

/** One Stream call, with the frames it received and its final status. */
export class TestStream {
  readonly received: ProcessorFrame[] = [];
  readonly status: Promise<StatusObject>;
  private readonly client: OutputProcessorClient;
  private readonly call: StreamCall;
  private waiters: (() => void)[] = [];

  constructor(target: string, token: string | undefined, creds: ChannelCredentials = credentials.createInsecure()) {
    this.client = new ClientCtor(target, creds, { ...CLIENT_KEEPALIVE, 'grpc.max_send_message_length': 8 * 1024 * 1024 });
    const md = new Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    this.call = this.client.Stream(md);
    this.call.on('data', (f: ProcessorFrame) => {
      this.received.push(f);
      this.poke();
    });
    this.call.on('error', () => undefined); // the status says it
    this.status = new Promise((resolve) =>
      this.call.on('status', (s: StatusObject) => {
        resolve(s);
        this.poke();
        this.client.close();
      }),
    );
  }

  /** Sends a frame, waiting for the call to drain when it is full (flow control). */
  async send(frame: AgentFrame): Promise<void> {
    if (!this.call.write(frame)) await new Promise<void>((resolve) => this.call.once('drain', resolve));
  }

  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }

  /** The first received frame (from index `from`) matching `pred`; rejects if the call ends first. */
  async next(pred: (f: ProcessorFrame) => boolean, from = 0, timeoutMs = 20_000): Promise<ProcessorFrame> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.status.then(() => (ended = true));
    for (;;) {
      const found = this.received.slice(from).find(pred);
      if (found) return found;
      if (ended) throw new Error(`call ended (${JSON.stringify(await this.status)}) before the frame came; got ${JSON.stringify(this.received.map((f) => f.frame))}`);
      if (Date.now() > deadline) throw new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.received.map((f) => f.frame))}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  resume(): Promise<ProcessorFrame> {
    return this.next((f) => f.resume !== undefined);
  }

  complete(): Promise<ProcessorFrame> {
    return this.next((f) => f.complete !== undefined);
  }

  /** Waits until an Ack says at least `offset` bytes of (step, stream) are stored. */
  acked(step: number, stream: StreamKindName, offset: number): Promise<ProcessorFrame> {
    return this.next((f) => f.ack !== undefined && f.ack.streams.some((s) => s.step === step && s.stream === stream && s.offset >= offset));
  }

  private poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }
}

export interface StepOutput {
  name: string;
  stdout?: Buffer;
  stderr?: Buffer;
}

/** The entries of a job whose steps wrote `steps` (in chunks of at most `chunkBytes`), ending with JobFinished. */
export function jobEntries(steps: StepOutput[], chunkBytes = 64 * 1024): Entry[] {
  const entries: Entry[] = [];
  let seq = 0;
  const totals: { step: number; stream: StreamKindName; bytes: number; sha256: Buffer }[] = [];
  steps.forEach((s, step) => {
    entries.push({ stepStarted: { seq: seq++, step, name: s.name, type: 'run', timeUnixMs: Date.now(), background: false } });
    for (const [stream, data] of [['STDOUT', s.stdout], ['STDERR', s.stderr]] as const) {
      if (!data) continue;
      for (let at = 0; at < data.length; at += chunkBytes) entries.push({ chunk: { step, stream, offset: at, data: data.subarray(at, at + chunkBytes) } });
      totals.push({ step, stream, bytes: data.length, sha256: sha256(data) });
    }
    entries.push({ stepFinished: { seq: seq++, step, status: 'success', exitCode: 0, durationMs: 5, message: '' } });
  });
  entries.push({ jobFinished: { seq: seq++, status: 'success', durationMs: 10, streams: totals } });
  return entries;
}

/** Sends `entries` in batches of `perBatch` entries. */
export async function sendEntries(stream: TestStream, entries: Entry[], perBatch = 16): Promise<void> {
  for (let i = 0; i < entries.length; i += perBatch) await stream.send({ batch: { entries: entries.slice(i, i + perBatch) } });
}

/** An Open for `jobId`; `deliveryId` names the run (omitted, as by clients that do not send it). */
export function openFrame(jobId: string, jobName = 'build', stepCount = 1, deliveryId?: string): AgentFrame {
  return { open: { jobId, jobName, startedUnixMs: Date.now(), environment: { CI: 'true' }, stepCount, ...(deliveryId !== undefined ? { deliveryId } : {}) } };
}

/** A Stream call for `jobId` that has sent Open (as openFrame makes it) and been answered with Resume. */
export async function openedStream(p: TestProcessor, jobId: string, deliveryId?: string): Promise<TestStream> {
  const s = new TestStream(p.target, p.token(jobId));
  await s.send(openFrame(jobId, 'build', 1, deliveryId));
  await s.resume();
  return s;
}

/** A logger that keeps every line, for tests that check what the processor logged. */
export function keptLogger(): Logger & { lines: { level: LogLevel; msg: string; fields: LogFields }[] } {
  const lines: { level: LogLevel; msg: string; fields: LogFields }[] = [];
  return { lines, log: (level, msg, fields = {}) => lines.push({ level, msg, fields }) };
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Streams a whole job on one call and waits for Complete. */
export async function streamJob(p: TestProcessor, jobId: string, steps: StepOutput[]): Promise<ProcessorFrame> {
  const s = new TestStream(p.target, p.token(jobId));
  await s.send(openFrame(jobId, 'build', steps.length));
  await s.resume();
  await sendEntries(s, jobEntries(steps));
  const complete = await s.complete();
  s.end();
  await s.status;
  return complete;
}

/** GET a URL, body as bytes. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const r = await fetch(url, { headers });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

/**
 * A Stream call made of raw gRPC frames over node:http2, as a hostile or foreign client would
 * send them: messages are encoded here and written in bulk (no per-message client overhead), and
 * the processor's answers are decoded as they come.
 */
export class RawStream {
  readonly received: ProcessorFrame[] = [];
  /** the call's trailers (or trailers-only headers) */
  readonly trailers: Promise<Record<string, unknown>>;
  private readonly session;
  private readonly req;
  private pending = Buffer.alloc(0);

  constructor(target: string, token: string) {
    this.session = connect(`http://${target}`);
    this.session.on('error', () => undefined);
    this.req = this.session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/deckhand.output.v1.OutputProcessor/Stream',
      'content-type': 'application/grpc',
      te: 'trailers',
      authorization: `Bearer ${token}`,
    });
    this.req.on('error', () => undefined);
    this.req.on('data', (d: Buffer) => {
      this.pending = Buffer.concat([this.pending, d]);
      while (this.pending.length >= 5 && this.pending.length >= 5 + this.pending.readUInt32BE(1)) {
        const n = this.pending.readUInt32BE(1);
        this.received.push(outputProcessorService.Stream.responseDeserialize(this.pending.subarray(5, 5 + n)) as ProcessorFrame);
        this.pending = this.pending.subarray(5 + n);
      }
    });
    this.trailers = new Promise((resolve) => {
      this.req.on('trailers', (t) => resolve(t));
      this.req.on('response', (h) => {
        if (h['grpc-status'] !== undefined) resolve(h);
      });
      this.req.on('close', () => resolve({}));
    });
  }

  /** One length-prefixed gRPC message. */
  static frame(message: AgentFrame): Buffer {
    const body = outputProcessorService.Stream.requestSerialize(message);
    const out = Buffer.alloc(5 + body.length);
    out.writeUInt32BE(body.length, 1);
    body.copy(out, 5);
    return out;
  }

  /** Writes bytes, waiting while HTTP/2 flow control holds them back. */
  async write(bytes: Buffer): Promise<void> {
    if (!this.req.write(bytes)) await new Promise<void>((resolve) => this.req.once('drain', resolve));
  }

  end(bytes?: Buffer): void {
    this.req.end(bytes);
  }

  /** Bytes of (step, STDOUT) the processor has acknowledged so far. */
  ackedStdout(step: number): number {
    let most = 0;
    for (const f of this.received) for (const s of f.ack?.streams ?? []) if (s.step === step && s.stream === 'STDOUT') most = Math.max(most, s.offset);
    return most;
  }

  close(): void {
    this.session.close();
  }
}
