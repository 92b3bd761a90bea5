/**
 * What the processor has stored, as the agent knows it from Resume and Ack, and the report the
 * agent gives at the end: delivered and verified, or how many bytes and events did not arrive.
 */
import type { OutputEntry } from './entries.js';
import { streamKey } from './entries.js';
import type { StoredState } from './spool.js';
import { formatBytes } from '../../store/format-bytes.js';

/** Raises `into` to `from` (what is stored only grows; an older, smaller Ack changes nothing); true when anything rose. */
export function advanceStored(into: StoredState, from: StoredState): boolean {
  let moved = false;
  for (const [key, offset] of from.offsets) {
    if (offset > (into.offsets.get(key) ?? 0)) {
      into.offsets.set(key, offset);
      moved = true;
    }
  }
  if (from.nextSeq > into.nextSeq) {
    into.nextSeq = from.nextSeq;
    moved = true;
  }
  return moved;
}

/**
 * The part of a batch the processor does not have yet: chunks below the stored offset are dropped
 * or cut at it, events below the stored seq dropped. Resending stored bytes would be harmless (the
 * protocol makes it idempotent) but wastes the link after every reconnect.
 */
export function unstored(batch: OutputEntry[], stored: StoredState): OutputEntry[] {
  const out: OutputEntry[] = [];
  for (const e of batch) {
    if (e.kind !== 'chunk') {
      if (e.seq >= stored.nextSeq) out.push(e);
      continue;
    }
    const have = stored.offsets.get(streamKey(e.step, e.stream)) ?? 0;
    const end = e.offset + e.data.length;
    if (end <= have) continue;
    out.push(e.offset >= have ? e : { ...e, offset: have, data: e.data.subarray(have - e.offset) });
  }
  return out;
}

export interface DeliveryReport {
  target: string;
  jobId: string;
  /** the processor stored everything and checked it against the job's totals */
  complete: boolean;
  /** every stream matched its byte count and SHA-256 (only meaningful when complete) */
  verified: boolean;
  /** the processor's reason when not verified */
  verifyMessage?: string;
  totalBytes: number;
  undeliveredBytes: number;
  totalEvents: number;
  undeliveredEvents: number;
  /** the last connection or protocol error, when delivery did not finish */
  lastError?: string;
  /** the spool could not be written (a full disk): output after that point never left the agent */
  spoolError?: string;
  /** how long close waited after the job ended */
  waitedMs: number;
  deadlineMs: number;
}

export function undelivered(totals: Map<string, number>, events: number, stored: StoredState): { bytes: number; events: number } {
  let bytes = 0;
  for (const [key, total] of totals) bytes += Math.max(0, total - (stored.offsets.get(key) ?? 0));
  return { bytes, events: Math.max(0, events - stored.nextSeq) };
}

/** Why the agent stops delivering, for the processor's record of the job (report.complete is false). */
export function formatGiveUp(r: DeliveryReport): string {
  const missing = `${formatBytes(r.undeliveredBytes)} of ${formatBytes(r.totalBytes)} and ${r.undeliveredEvents} of ${r.totalEvents} events not delivered`;
  const why = r.spoolError ? `the agent's spool failed: ${r.spoolError}` : r.lastError ? `last error: ${r.lastError}` : 'no answer from the processor';
  return `${missing} after waiting ${(r.waitedMs / 1000).toFixed(1)}s (deadline ${(r.deadlineMs / 1000).toFixed(0)}s); ${why}`;
}

/** One line for the end of the job: delivered and verified, or what is missing and why. */
export function formatDeliveryReport(r: DeliveryReport): string {
  const where = `job ${r.jobId} at ${r.target}`;
  if (r.complete && r.verified) return `output delivered and verified: ${where} (${formatBytes(r.totalBytes)}, ${r.totalEvents} events)`;
  if (r.complete) return `output delivered but NOT verified by the processor: ${where}: ${r.verifyMessage || 'no reason given'}`;
  return `output NOT fully delivered: ${where}: ${formatGiveUp(r)}`;
}

