/** The listing at the end of a job that stored artifacts: totals, the first paths, the commands. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatStoredArtifacts, formatWorkflowArtifacts, LISTED_PATHS, recordStoredArtifact } from '../../agent/artifacts/job-artifacts.js';
import { defaultStoreDir } from '../../agent/store/open-store.js';

test('nothing stored: nothing printed', () => {
  assert.equal(formatStoredArtifacts('run-none'), '');
  assert.equal(formatWorkflowArtifacts([{ label: 'build', jobRunId: 'run-none' }]), '');
});

test('many artifacts: totals of all, the first paths named, the rest counted; the default store needs no --store', () => {
  const storage = { jobRunId: 'run-many', store: { location: defaultStoreDir() } };
  for (let i = 0; i < LISTED_PATHS + 5; i++) recordStoredArtifact(storage, `coverage/file-${String(i).padStart(2, '0')}.html`, 1024);
  const lines = formatStoredArtifacts('run-many').trimEnd().split('\n');
  assert.equal(lines[0], `Artifacts of job run run-many: ${LISTED_PATHS + 5} files, 25.0 KiB, in ${defaultStoreDir()}`);
  assert.equal(lines[1], '  coverage/file-00.html  1.0 KiB');
  assert.equal(lines[LISTED_PATHS], `  coverage/file-${LISTED_PATHS - 1}.html  1.0 KiB`);
  assert.equal(lines[LISTED_PATHS + 1], '  … and 5 more');
  assert.equal(lines[LISTED_PATHS + 2], 'List them: deckhand artifacts list run-many');
  assert.equal(lines[LISTED_PATHS + 3], 'Serve them: deckhand artifacts serve, then open http://127.0.0.1:8081/artifacts/run-many/');
  assert.equal(lines.length, LISTED_PATHS + 4);
});

test('another store is named with --store, quoted for the shell when it must be; a workflow lists each job run', () => {
  recordStoredArtifact({ jobRunId: 'run-s3', store: { location: 's3://bucket/ci/' } }, 'a.txt', 3);
  recordStoredArtifact({ jobRunId: 'run-dir', store: { location: join('/tmp', "it's here") } }, 'b.txt', 4);
  assert.match(formatStoredArtifacts('run-s3'), /^List them: deckhand artifacts list run-s3 --store s3:\/\/bucket\/ci\/$/m);
  assert.match(formatStoredArtifacts('run-dir'), /^List them: deckhand artifacts list run-dir --store '\/tmp\/it'\\''s here'$/m);
  assert.equal(
    formatWorkflowArtifacts([
      { label: 'build', jobRunId: 'run-s3' },
      { label: 'test#0', jobRunId: 'run-none' },
      { label: 'test#1', jobRunId: 'run-s3' },
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
