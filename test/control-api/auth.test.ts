/**
 * Tokens: made by addToken into a file of digests, checked by scope (read < submit < admin),
 * a token added while the service runs accepted at once, a broken tokens file refused by line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addToken, TokenFile } from '../../agent/control-api/auth.js';

test('scopes are ordered, only digests are stored, new tokens work at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-tokens-'));
  try {
    const file = join(dir, 'tokens');
    const read = addToken(file, 'read', 'dash');
    const tokens = new TokenFile(file);
    assert.deepEqual(tokens.check(`Bearer ${read}`, 'read'), { ok: true, caller: { id: 'dash', scope: 'read' } });
    const refused = tokens.check(`Bearer ${read}`, 'submit');
    assert.ok(!refused.ok && refused.status === 403);
    // made while the file is held open by a running service, within the same second
    const admin = addToken(file, 'admin');
    for (const scope of ['read', 'submit', 'admin'] as const) assert.equal(tokens.check(`bearer ${admin}`, scope).ok, true);
    assert.ok(!readFileSync(file, 'utf8').includes(read) && !readFileSync(file, 'utf8').includes(admin));
    const unknown = tokens.check('Bearer dh_nope', 'read');
    assert.ok(!unknown.ok && unknown.status === 401 && /unknown token/.test(unknown.reason));
    const none = tokens.check(undefined, 'read');
    assert.ok(!none.ok && none.status === 401 && /Authorization: Bearer TOKEN/.test(none.reason));
    assert.throws(() => addToken(file, 'root' as 'admin'), /--scope root: use read, submit or admin/);
    writeFileSync(file, 'admin not-a-digest\n');
    assert.throws(() => new TokenFile(file), /tokens:1: expected "read\|submit\|admin SHA256-HEX \[NAME\]"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
