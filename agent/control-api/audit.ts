/**
 * The audit log: one JSON line per action that changes something or is refused, with the fields
 * of CircleCI Server's audit log (https://circleci.com/docs/server/latest/operator/audit-logs/):
 * id, version, action (entity first, dotted lowercase), actor, target, payload, occurred_at,
 * scope, success, request, metadata. Append-only (DATA/audit.jsonl, opened for appending and
 * synced per line); read back for `GET /api/v1/audit` and exported as CSV.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';

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

  /** Events that occurred at or after `since` (ISO-8601), oldest first. */
  read(since?: Date): AuditEvent[] {
    if (!existsSync(this.file)) return [];
    const events: AuditEvent[] = [];
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
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
  }

  close(): void {
    closeSync(this.fd);
  }
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
