/**
 * The control API's database: a new one has every column; one written before
 * rerun with SSH existed gains the ssh columns when the service opens it, and its rows stay.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { ControlStore, type JobRow } from '../../agent/control-api/store.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;

function columns(file: string, table: string): string[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  } finally {
    db.close();
  }
}

function job(id: string, ssh?: JobRow['ssh']): JobRow {
  return { id, workflowId: randomUUID(), pipelineId: randomUUID(), name: 'build', type: 'build', status: 'queued', requires: {}, parallelism: 1, seq: 1, ...(ssh ? { ssh } : {}) };
}

describe('ControlStore: its schema', () => {
  test('a new database has the ssh columns, last', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'deckhand-store-')), 'control.db');
    new ControlStore(file).close();
    assert.equal(columns(file, 'jobs').at(-1), 'ssh');
    assert.equal(columns(file, 'nodes').at(-1), 'ssh');
  });

  test('a database from before rerun with SSH gains the columns and keeps its rows', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'deckhand-store-')), 'control.db');
    // the tables as the first release made them
    const old = new Database(file);
    old.exec(`CREATE TABLE jobs (id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, pipeline_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
      status TEXT NOT NULL, requires TEXT NOT NULL, spec TEXT, parallelism INTEGER NOT NULL, resource_class TEXT, seq INTEGER NOT NULL,
      queued_at TEXT, started_at TEXT, stopped_at TEXT, reason TEXT, approved_by TEXT, copied_from TEXT);
      CREATE TABLE nodes (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, node_index INTEGER NOT NULL, status TEXT NOT NULL,
      started_at TEXT, stopped_at TEXT, exit_code INTEGER, reason TEXT, steps TEXT NOT NULL, output_bytes INTEGER NOT NULL, ran_on TEXT);`);
    const before = randomUUID();
    old.prepare("INSERT INTO jobs VALUES (?, 'w', 'p', 'lint', 'build', 'success', '{}', NULL, 1, NULL, 1, NULL, NULL, NULL, NULL, NULL, NULL)").run(before);
    old.close();

    const store = new ControlStore(file);
    try {
      assert.equal(store.job(before)?.name, 'lint');
      assert.equal(store.job(before)?.ssh, undefined);
      const after = randomUUID();
      store.insertJob(job(after, { authorizedKeys: ['/keys.pub'], fingerprints: ['SHA256:x'] }));
      assert.deepEqual(store.job(after)?.ssh, { authorizedKeys: ['/keys.pub'], fingerprints: ['SHA256:x'] });
    } finally {
      store.close();
    }
    assert.equal(columns(file, 'jobs').at(-1), 'ssh');
  });
});
