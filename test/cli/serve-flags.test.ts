/**
 * `deckhand serve` with flags that cannot work: one line that says which flag and how to fix it,
 * exit 2, and nothing made or removed first (no data folder, no reclaim of the engine).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { deckhandBin } from '../support/execute.js';

function serve(args: string[]): { code: number | null; err: string; data: string } {
  const data = join(mkdtempSync(join(tmpdir(), 'deckhand-serve-flags-')), 'data');
  const r = spawnSync('node', [deckhandBin, 'serve', '--data', data, '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, DECKHAND_HOME: join(data, '..', 'home') } });
  return { code: r.status, err: r.stderr, data };
}

describe('deckhand serve: bad flags', () => {
  for (const [args, message] of [
    [['--ssh-authorized-keys', '/nonexistent/keys.pub'], /--ssh-authorized-keys \/nonexistent\/keys\.pub does not exist; give a file of public keys/],
    [['--max-parallel', '0'], /--max-parallel must be a whole number of at least 1, got 0/],
    [['--tokens', '/nonexistent/tokens'], /--tokens \/nonexistent\/tokens does not exist; make tokens with deckhand serve token/],
    [['--output-processor', '127.0.0.1:8585'], /--output-processor needs --output-secret-file FILE/],
  ] as const) {
    test(`${args.join(' ')}: one line, exit 2, no data folder made`, () => {
      const r = serve([...args]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
      assert.equal(existsSync(r.data), false, 'the data folder is not made for a run that cannot start');
    });
  }
});
