// Timings and results in a real filesystem BlobStore: one record per run, merged newest first,
// older runs folded past KEEP_RUNS; parallel nodes storing at once lose nothing.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { newUploadPrefix, rawFileKey, readTestResults, saveSummary } from '../../agent/test-results/stored-results.js';
import { KEEP_RUNS, loadTimings, saveTimings, timingsPrefix } from '../../agent/test-results/stored-timings.js';
import { summarize } from '../../agent/test-results/summary.js';

const dir = mkdtempSync(path.join(tmpdir(), 'deckhand-timings-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function scope(name: string, jobRunId: string) {
  return { store: new FsBlobStore(path.join(dir, name)), project: 'git@github.com:acme/shop.git', jobName: 'test', jobRunId };
}

describe('stored timings', () => {
  it('newest run wins per name; names only an older run knows are kept', async () => {
    const s = scope('merge', 'run-1');
    await saveTimings(s, [{ type: 'file', name: 'a.rb', seconds: 1 }, { type: 'file', name: 'b.rb', seconds: 2 }], new Date('2024-01-01T00:00:00Z'));
    await saveTimings({ ...s, jobRunId: 'run-2' }, [{ type: 'file', name: 'b.rb', seconds: 7 }], new Date('2024-01-02T00:00:00Z'));
    const merged = await loadTimings(s);
    assert.deepEqual(merged.sort((x, y) => x.name.localeCompare(y.name)), [
      { type: 'file', name: 'a.rb', seconds: 1 },
      { type: 'file', name: 'b.rb', seconds: 7 },
    ]);
    // another job name or project sees none of it
    assert.deepEqual(await loadTimings({ ...s, jobName: 'lint' }), []);
    assert.deepEqual(await loadTimings({ ...s, project: '/home/me/shop' }), []);
  });

  it('parallel nodes storing at the same moment keep each other\'s timings', async () => {
    const s = scope('parallel', 'x');
    await Promise.all(
      Array.from({ length: 4 }, (_, node) => saveTimings({ ...s, jobRunId: `node-${node}` }, [{ type: 'file', name: `spec/n${node}_spec.rb`, seconds: node + 1 }])),
    );
    assert.deepEqual((await loadTimings(s)).map((r) => r.name).sort(), ['spec/n0_spec.rb', 'spec/n1_spec.rb', 'spec/n2_spec.rb', 'spec/n3_spec.rb']);
  });

  it(`past ${KEEP_RUNS} runs the older ones are folded into one record, losing nothing`, async () => {
    const s = scope('compact', 'x');
    const runs = KEEP_RUNS + 5;
    for (let i = 0; i < runs; i++) {
      // every run knows its own file and re-times shared.rb
      await saveTimings({ ...s, jobRunId: `run-${i}` }, [{ type: 'file', name: `f${i}.rb`, seconds: i }, { type: 'file', name: 'shared.rb', seconds: i }], new Date(Date.UTC(2024, 0, 1, 0, 0, i)));
    }
    const keys = (await s.store.list(timingsPrefix(s))).map((b) => b.key);
    assert.equal(keys.length, KEEP_RUNS);
    const merged = new Map((await loadTimings(s)).map((r) => [r.name, r.seconds]));
    assert.equal(merged.size, runs + 1);
    assert.equal(merged.get('shared.rb'), runs - 1);
    assert.equal(merged.get('f0.rb'), 0);
  });
});

describe('stored results', () => {
  it('summaries come back per job run, in step order; raw keys stay inside the upload', async () => {
    const store = new FsBlobStore(path.join(dir, 'results'));
    const first = newUploadPrefix('job-1', new Date('2024-01-01T00:00:00Z'));
    const second = newUploadPrefix('job-1', new Date('2024-01-01T00:00:01Z'));
    await saveSummary(store, second, summarize('/b', []));
    await saveSummary(store, first, summarize('/a', []));
    await saveSummary(store, newUploadPrefix('job-2'), summarize('/other', []));
    assert.deepEqual((await readTestResults(store, 'job-1')).map((s) => s.path), ['/a', '/b']);
    assert.deepEqual(await readTestResults(store, 'job-3'), []);
    assert.equal(rawFileKey(first, '../../etc/./passwd'), `${first}files/etc/passwd`);
  });
});
