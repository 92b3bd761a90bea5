// packTree's failures: a file it cannot read is the local repository's fault (LocalReadError,
// said as such); a pack torn down by its reader (the container refused the copy) is not.
import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished, PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { asLocalReadError, LocalReadError, packTree } from '../../../agent/steps/checkout/pack-tree.js';

const owner = { uid: 1000, gid: 1000 };

describe('packTree failures', () => {
  it('a path the file system refuses is a LocalReadError naming the error', async () => {
    const root = mkdtempSync(join(tmpdir(), 'deckhand-pack-'));
    symlinkSync('loop', join(root, 'loop'));
    const packed = packTree(root, ['loop/inside'], owner);
    packed.stream.on('error', () => undefined).resume();
    await assert.rejects(packed.done, (error: unknown) => {
      assert.ok(error instanceof LocalReadError, String(error));
      assert.match(error.message, /ELOOP|ENOTDIR/);
      return true;
    });
  });

  it('a stream closed early is not a local read error; a file system error is', async () => {
    const early = await new Promise<unknown>((resolve) => {
      const stream = new PassThrough();
      finished(stream, resolve);
      stream.destroy();
    });
    assert.equal((early as { code?: string }).code, 'ERR_STREAM_PREMATURE_CLOSE');
    assert.equal(asLocalReadError(early), early);
    const missing = await lstat('/no/such/path').catch((error: unknown) => error);
    assert.ok(asLocalReadError(missing) instanceof LocalReadError);
  });

  it('a pack destroyed by its reader is not a local read error', async () => {
    const root = mkdtempSync(join(tmpdir(), 'deckhand-pack-'));
    const names = Array.from({ length: 200 }, (_, i) => `f${i}`);
    for (const name of names) writeFileSync(join(root, name), Buffer.alloc(64 * 1024, 1));
    const packed = packTree(root, names, owner);
    packed.stream.on('error', () => undefined).once('data', () => packed.stream.destroy());
    await assert.rejects(packed.done, (error: unknown) => {
      assert.ok(!(error instanceof LocalReadError), `reported as a local read error: ${String(error)}`);
      return true;
    });
  });
});
