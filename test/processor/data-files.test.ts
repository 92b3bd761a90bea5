/**
 * What the processor writes under its data directory is its own user's only: job output and job
 * environments are no other local user's to read, whatever the umask or `--http-auth`.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startTestProcessor, streamJob } from './support.js';

/** Every path under `dir` (itself included), with its permission bits. */
function modes(dir: string): [string, number][] {
  const out: [string, number][] = [[dir, statSync(dir).mode & 0o777]];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...modes(path));
    else out.push([path, statSync(path).mode & 0o777]);
  }
  return out;
}

describe('output processor: data files', () => {
  it('creates job files 0600 and folders 0700 (the data directory and the secret too), whatever the umask', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'deckhand-modes-'));
    const dataDir = join(parent, 'data'); // made by the processor
    const umask = process.umask(0o002); // a permissive umask must not open anything up
    try {
      const p = await startTestProcessor({ dataDir });
      try {
        await streamJob(p, 'job-modes', [{ name: 'make', stdout: Buffer.from('secret build output\n'), stderr: Buffer.from('warning\n') }, { name: 'quiet' }]);
      } finally {
        await p.stop();
      }
      const all = modes(dataDir);
      const names = all.map(([path]) => path.slice(dataDir.length) || '/');
      for (const expected of ['/', '/secret', '/jobs', '/jobs/job-modes', '/jobs/job-modes/meta.json', '/jobs/job-modes/events.jsonl', '/jobs/job-modes/journal', '/jobs/job-modes/streams', '/jobs/job-modes/streams/0.stdout', '/jobs/job-modes/streams/0.stderr']) {
        assert.ok(names.includes(expected), `${expected} was not made: ${names.join(' ')}`);
      }
      for (const [path, mode] of all) {
        const isDir = statSync(path).isDirectory();
        assert.equal(mode.toString(8), isDir ? '700' : '600', `${path}`);
      }
    } finally {
      process.umask(umask);
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('tightens a jobs folder an earlier version left open to 0700', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'deckhand-modes-'));
    try {
      mkdirSync(join(dataDir, 'jobs'));
      chmodSync(join(dataDir, 'jobs'), 0o755);
      const p = await startTestProcessor({ dataDir });
      await p.stop();
      assert.equal((statSync(join(dataDir, 'jobs')).mode & 0o777).toString(8), '700');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
