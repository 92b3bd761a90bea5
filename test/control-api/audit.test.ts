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

test('since= finds its first event by bisecting a large log, at every boundary, past a torn line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-audit-'));
  try {
    const file = join(dir, 'audit.jsonl');
    // 20,000 events a second apart, with payloads of uneven length so lines straddle the probes
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const event = { id: `e${i}`, version: 1, action: 'workflow.job.start', actor: { id: 'svc', type: 'service' }, target: { id: `j${i}`, type: 'job' }, payload: { pad: 'x'.repeat((i * 7919) % 300) }, occurred_at: new Date(t0 + i * 1000).toISOString(), scope: { id: 'deckhand', type: 'organization' }, success: true, request: { id: `r${i}` }, metadata: {} };
      lines.push(JSON.stringify(event));
      // a torn line in the middle, as a crash mid-write leaves one
      if (i === 12_345) lines.push('{"id": "torn');
    }
    appendFileSync(file, `${lines.join('\n')}\n`);
    const log = new AuditLog(file);
    const ids = (since: number): string[] => log.read(new Date(since)).map((e) => e.id);
    assert.equal(ids(t0 - 1).length, 20_000, 'before the first: all');
    assert.deepEqual(ids(t0), ids(t0 - 1), 'at the first: all');
    assert.deepEqual(ids(t0 + 1), ids(t0 + 1000), 'between two events: from the later one');
    for (const i of [1, 2, 9_999, 12_345, 12_346, 19_998, 19_999]) {
      const got = ids(t0 + i * 1000);
      assert.equal(got[0], `e${i}`, `since event ${i}`);
      assert.equal(got.length, 20_000 - i, `since event ${i}`);
    }
    assert.deepEqual(ids(t0 + 20_000 * 1000), [], 'after the last: none');
    log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
