/** The listing at the end of a job that stored artifacts: totals, the first paths, the commands. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatStoredArtifacts, formatWorkflowArtifacts, LISTED_PATHS, StoredArtifacts } from '../../agent/artifacts/job-artifacts.js';
import { defaultStoreDir } from '../../agent/store/open-store.js';

test('nothing stored: nothing printed', () => {
  const none = new StoredArtifacts('run-none', defaultStoreDir()).stored();
  assert.equal(none, undefined);
  assert.equal(formatStoredArtifacts(none), '');
  assert.equal(formatWorkflowArtifacts([{ label: 'build', stored: none }]), '');
});

test('many artifacts: totals of all, the first paths named, the rest counted; the default store needs no --store', () => {
  const record = new StoredArtifacts('run-many', defaultStoreDir());
  for (let i = 0; i < LISTED_PATHS + 5; i++) record.record(`coverage/file-${String(i).padStart(2, '0')}.html`, 1024);
  const lines = formatStoredArtifacts(record.stored()).trimEnd().split('\n');
  assert.equal(lines[0], `Artifacts of job run run-many: ${LISTED_PATHS + 5} files, 25.0 KiB, in ${defaultStoreDir()}`);
  assert.equal(lines[1], '  coverage/file-00.html  1.0 KiB');
  assert.equal(lines[LISTED_PATHS], `  coverage/file-${LISTED_PATHS - 1}.html  1.0 KiB`);
  assert.equal(lines[LISTED_PATHS + 1], '  … and 5 more');
  assert.equal(lines[LISTED_PATHS + 2], 'List them: deckhand artifacts list run-many');
  assert.equal(lines[LISTED_PATHS + 3], 'Serve them: deckhand artifacts serve, then open http://127.0.0.1:8081/artifacts/run-many/');
  assert.equal(lines.length, LISTED_PATHS + 4);
});

test('another store is named with --store, quoted for the shell when it must be; a workflow lists each job run', () => {
  const s3 = new StoredArtifacts('run-s3', 's3://bucket/ci/');
  s3.record('a.txt', 3);
  const dir = new StoredArtifacts('run-dir', join('/tmp', "it's here"));
  dir.record('b.txt', 4);
  assert.match(formatStoredArtifacts(s3.stored()), /^List them: deckhand artifacts list run-s3 --store s3:\/\/bucket\/ci\/$/m);
  assert.match(formatStoredArtifacts(dir.stored()), /^List them: deckhand artifacts list run-dir --store '\/tmp\/it'\\''s here'$/m);
  assert.equal(
    formatWorkflowArtifacts([
      { label: 'build', stored: s3.stored() },
      { label: 'test#0', stored: undefined },
      { label: 'test#1', stored: s3.stored() },
    ]),
    [
      'Artifacts (in s3://bucket/ci/):',
      '  build   1 file, 3 B: deckhand artifacts list run-s3 --store s3://bucket/ci/',
      '  test#1  1 file, 3 B: deckhand artifacts list run-s3 --store s3://bucket/ci/',
      'Serve them: deckhand artifacts serve --store s3://bucket/ci/, then open http://127.0.0.1:8081/artifacts/',
      '',
    ].join('\n'),
  );
});
