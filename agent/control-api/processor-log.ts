/**
 * A job node that ran elsewhere (a Nomad client) sent its output to the output processor, not to
 * this service. When it ends, the service reads it back once from the processor's live tail
 * (`GET /api/jobs/RUN_ID/live`: events and output in the order they happened, then `end`) and
 * renders it into the node's log as a local node's log is written, so `GET /api/v1/jobs/ID/output`
 * serves the same text on either backend, and the node's steps (status, duration, exit code) and
 * output bytes are recorded as a local node's are.
 */
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import type { JobEvent, OutputStreamName, StepStatus } from '../output/events.js';
import { LogFileSink } from '../output/log-file.js';
import { readHeaders, type ProcessorJobRead } from './processor-job.js';
import type { StepRecord } from './store.js';

/** How long the read-back may take: the job has ended, so its output is stored already. */
const READ_BACK_MS = 15_000;

export interface ReadBack {
  steps: StepRecord[];
  outputBytes: number;
}

/**
 * Appends the job's rendered output to `logFile` and says what its steps were. Undefined when the
 * processor does not have the job or cannot be read (the log then keeps what it had).
 */
export async function readBackProcessorLog(read: ProcessorJobRead, logFile: string, timeoutMs = READ_BACK_MS): Promise<ReadBack | undefined> {
  const headers = readHeaders(read);
  const signal = AbortSignal.timeout(timeoutMs);
  const meta = await fetch(read.url, { headers, signal }).then((r) => (r.ok ? (r.json() as Promise<{ name?: unknown; environment?: unknown }>) : undefined)).catch(() => undefined);
  if (!meta) return undefined;
  // rendered apart first: the node's log already holds what the dispatch said, and stays whole if this fails
  const rendered = `${logFile}.processor`;
  const sink = new LogFileSink(rendered);
  const steps = new Map<number, StepRecord>();
  let outputBytes = 0;
  const started = Date.now();
  sink.event({ type: 'job-start', job: typeof meta.name === 'string' ? meta.name : 'job', time: started, environment: textRecord(meta.environment) });
  try {
    const res = await fetch(`${read.url}/live`, { headers, signal });
    if (!res.ok || !res.body) return undefined;
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body) {
      pending += decoder.decode(chunk as Uint8Array, { stream: true });
      let cut: number;
      while ((cut = pending.indexOf('\n\n')) >= 0) {
        const message = parseMessage(pending.slice(0, cut));
        pending = pending.slice(cut + 2);
        if (!message) continue;
        if (message.event === 'end') return finish();
        const e = jobEvent(message.event, message.data);
        if (!e) continue;
        if (e.type === 'output') outputBytes += e.data.length;
        if (e.type === 'step-start') steps.set(e.index, { index: e.index, name: e.name });
        if (e.type === 'step-end') {
          const step = steps.get(e.index);
          if (step) Object.assign(step, { status: e.status, durationMs: e.durationMs, ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) });
        }
        sink.event(e);
      }
    }
    return finish();
  } catch {
    // cut short (the processor went away, the time ran out): what came is kept
    return finish();
  } finally {
    await sink.close().catch(() => undefined);
    // a job the processor had nothing of leaves the log as it was
    if (steps.size > 0) {
      try {
        appendFileSync(logFile, readFileSync(rendered));
      } catch {
        // nothing rendered
      }
    }
    rmSync(rendered, { force: true });
  }

  function finish(): ReadBack {
    return { steps: [...steps.values()].sort((a, b) => a.index - b.index), outputBytes };
  }
}

function parseMessage(block: string): { event: string; data: string } | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data.push(line.slice(6));
  }
  return data.length > 0 ? { event, data: data.join('\n') } : undefined;
}

/** The processor's stored event or output record as the job event it was. */
function jobEvent(event: string, data: string): JobEvent | undefined {
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const num = (k: string): number => (typeof d[k] === 'number' ? (d[k] as number) : 0);
  const text = (k: string): string => (typeof d[k] === 'string' ? (d[k] as string) : '');
  switch (event) {
    case 'output':
      return { type: 'output', index: num('step'), stream: text('stream') as OutputStreamName, data: Buffer.from(text('data'), 'base64') };
    case 'step-started':
      return { type: 'step-start', index: num('step'), name: text('name'), stepType: text('stepType'), time: num('timeUnixMs'), background: d.background === true };
    case 'step-finished':
      return { type: 'step-end', index: num('step'), status: text('status') as StepStatus, durationMs: num('durationMs'), ...(typeof d.exitCode === 'number' ? { exitCode: d.exitCode } : {}), ...(text('message') ? { message: text('message') } : {}) };
    case 'job-finished':
      return { type: 'job-end', status: text('status') as 'success' | 'failed' | 'canceled', durationMs: num('durationMs') };
    default:
      return undefined;
  }
}

function textRecord(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object') return {};
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
}
