/**
 * The audit log on disk: append-only JSON lines with CircleCI Server's fields, read back by time,
 * a line cut short by a crash skipped, and the CSV export quoting what needs quoting.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditLog, auditCsv } from '../../agent/control-api/audit.js';

test('events are appended with every field, read back since a time, and survive a torn line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-audit-'));
  try {
    const file = join(dir, 'audit.jsonl');
    const log = new AuditLog(file);
    const first = log.record({ action: 'workflow.job.start', actor: { id: 'svc', type: 'service' }, target: { id: 'j1', type: 'job' }, requestId: 'r-1' });
    assert.deepEqual(Object.keys(first), ['id', 'version', 'action', 'actor', 'target', 'payload', 'occurred_at', 'scope', 'success', 'request', 'metadata']);
    assert.match(first.id, /^[0-9a-f-]{36}$/);
    assert.equal(first.version, 1);
    assert.match(first.occurred_at, /Z$/);
    assert.deepEqual(first.request, { id: 'r-1' });
    await new Promise((r) => setTimeout(r, 5));
    const cut = new Date();
    await new Promise((r) => setTimeout(r, 5));
    // a crash in the middle of a write leaves half a line; what follows stays readable
    appendFileSync(file, '{"id": "torn');
    appendFileSync(file, '\n');
    const second = log.record({ action: 'token.use.refuse', actor: { id: 'anonymous', type: 'token' }, target: { id: 'GET /x', type: 'route' }, success: false, payload: { reason: 'a "quoted", reason' }, metadata: { remote: '127.0.0.1' } });
    assert.deepEqual(log.read().map((e) => e.id), [first.id, second.id]);
    assert.deepEqual(log.read(cut).map((e) => e.id), [second.id]);
    // earlier lines are never rewritten
    assert.ok(readFileSync(file, 'utf8').startsWith(JSON.stringify(first)));
    const csv = auditCsv(log.read()).split('\r\n');
    assert.equal(csv[0], 'id,version,action,actor_id,actor_type,target_id,target_type,payload,occurred_at,scope_id,scope_type,success,request_id,metadata');
    assert.ok(csv[2].includes(',"{""reason"":""a \\""quoted\\"", reason""}",'), csv[2]);
    assert.ok(csv[2].includes(',false,'));
    assert.equal(csv.length, 4); // header, two rows, and the empty string after the last CRLF
    log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
