/**
 * The audit log: one JSON line per action that changes something or is refused, with the fields
 * of CircleCI Server's audit log (https://circleci.com/docs/server/latest/operator/audit-logs/):
 * id, version, action (entity first, dotted lowercase), actor, target, payload, occurred_at,
 * scope, success, request, metadata. Append-only (DATA/audit.jsonl, opened for appending and
 * synced per line); read back for `GET /api/v1/audit` and exported as CSV.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';

export interface AuditEntity {
  id: string;
  type: string;
}

export interface AuditEvent {
  id: string;
  version: 1;
  action: string;
  actor: AuditEntity;
  target: AuditEntity;
  payload: Record<string, unknown>;
  occurred_at: string;
  scope: { id: string; type: string };
  success: boolean;
  request: { id: string };
  metadata: Record<string, string>;
}

export type AuditInput = Pick<AuditEvent, 'action' | 'actor' | 'target'> & Partial<Pick<AuditEvent, 'payload' | 'success' | 'metadata'>> & { requestId?: string };

/** the service itself, for what it does on its own (a job started or finished) */
export const SERVICE_ACTOR: AuditEntity = { id: 'deckhand-serve', type: 'service' };

export class AuditLog {
  private readonly fd: number;

  constructor(private readonly file: string) {
    this.fd = openSync(file, 'a', 0o600);
  }

  record(input: AuditInput): AuditEvent {
    const event: AuditEvent = {
      id: randomUUID(),
      version: 1,
      action: input.action,
      actor: input.actor,
      target: input.target,
      payload: input.payload ?? {},
      occurred_at: new Date().toISOString(),
      // one service is one organization's scope
      scope: { id: 'deckhand', type: 'organization' },
      success: input.success ?? true,
      request: { id: input.requestId ?? randomUUID() },
      metadata: input.metadata ?? {},
    };
    writeSync(this.fd, `${JSON.stringify(event)}\n`);
    fsyncSync(this.fd);
    return event;
  }

  /**
   * Events that occurred at or after `since`, oldest first. Lines are appended in time order, so
   * the first one at or after `since` is found by bisecting the file's bytes and only the lines
   * from there on are read and parsed: a query for the last hour of a year's log reads the last
   * hour. (A wall clock set back while the service ran would put older times after newer ones;
   * lines before the point found are then not looked at.)
   */
  read(since?: Date): AuditEvent[] {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      const start = since ? firstLineAtOrAfter(fd, size, since.getTime()) : 0;
      const text = readRange(fd, start, size).toString('utf8');
      const events: AuditEvent[] = [];
      for (const line of text.split('\n')) {
        if (line === '') continue;
        let e: AuditEvent;
        try {
          e = JSON.parse(line) as AuditEvent;
        } catch {
          // a line cut short by a crash mid-write is skipped, the rest stays readable
          continue;
        }
        if (since && Date.parse(e.occurred_at) < since.getTime()) continue;
        events.push(e);
      }
      return events;
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The bytes [start, end) of an open file. */
function readRange(fd: number, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(Math.max(0, end - start));
  let done = 0;
  while (done < out.length) {
    const n = readSync(fd, out, done, out.length - done, start + done);
    if (n === 0) break;
    done += n;
  }
  return out.subarray(0, done);
}

/** how much of the file one probe of the bisection reads: more than one audit line */
const PROBE_BYTES = 16 * 1024;
const OCCURRED_AT = /"occurred_at":"([^"]+)"/;

/**
 * The offset of the first whole line whose time is `since` or later, by bisection over byte
 * offsets: a probe at offset 0 looks at the first line, elsewhere at the first line that starts
 * after it. A line whose time cannot be read (cut short) counts as later, so it is never skipped.
 */
function firstLineAtOrAfter(fd: number, size: number, since: number): number {
  /** the start and time of the first line that starts at or after `offset`; undefined past the end */
  const lineFrom = (offset: number): { start: number; time: number } | undefined => {
    let at = offset;
    for (;;) {
      const chunk = readRange(fd, at, Math.min(size, at + PROBE_BYTES));
      if (chunk.length === 0) return undefined;
      // offset 0 starts a line; elsewhere the line starts after the next newline
      const from = at === 0 ? 0 : chunk.indexOf(0x0a) + 1;
      if (at !== 0 && from === 0) {
        at += chunk.length;
        continue;
      }
      const start = at + from;
      if (start >= size) return undefined;
      const line = readRange(fd, start, Math.min(size, start + PROBE_BYTES)).toString('utf8');
      const time = Date.parse(OCCURRED_AT.exec(line.slice(0, line.indexOf('\n') + 1 || undefined))?.[1] ?? '');
      return { start, time: Number.isNaN(time) ? Infinity : time };
    }
  };
  // the smallest offset whose line is `since` or later; offsets up to an older line's start are
  // older too. Lines out of order (a line cut short in the middle) can only move it earlier.
  let low = 0;
  let high = size;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    const line = lineFrom(mid);
    if (!line || line.time >= since) high = mid;
    else low = Math.max(mid + 1, line.start);
  }
  return lineFrom(low)?.start ?? size;
}

const CSV_COLUMNS = ['id', 'version', 'action', 'actor_id', 'actor_type', 'target_id', 'target_type', 'payload', 'occurred_at', 'scope_id', 'scope_type', 'success', 'request_id', 'metadata'];

/** RFC 4180 CSV, one row per event; payload and metadata as JSON in one cell each. */
export function auditCsv(events: AuditEvent[]): string {
  const cell = (v: unknown): string => {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const rows = events.map((e) =>
    [e.id, e.version, e.action, e.actor.id, e.actor.type, e.target.id, e.target.type, e.payload, e.occurred_at, e.scope.id, e.scope.type, e.success, e.request.id, e.metadata].map(cell).join(','),
  );
  return `${[CSV_COLUMNS.join(','), ...rows].join('\r\n')}\r\n`;
}
