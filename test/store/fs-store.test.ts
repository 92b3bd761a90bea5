/** The filesystem BlobStore: the shared contract, and what is particular to keeping blobs as folders. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { blobStoreContract, readAll } from './blob-store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'deckhand-fs-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('FsBlobStore: the BlobStore contract', () => {
  let n = 0;
  blobStoreContract(() => new FsBlobStore(join(root, `contract-${n++}`)));
});

describe('FsBlobStore', () => {
  test('keys cannot climb out of the store, and leave no temporary files', async () => {
    const dir = join(root, 'escape');
    const s = new FsBlobStore(dir);
    await s.put('../../outside', Readable.from([Buffer.from('x')]));
    await s.put('a/./../b', Readable.from([Buffer.from('y')]));
    assert.equal(existsSync(join(root, 'outside')), false);
    assert.deepEqual((await s.list('')).map((i) => i.key).sort(), ['../../outside', 'a/./../b']);
    assert.equal((await readAll(await s.get('a/./../b'))).toString(), 'y');
    assert.deepEqual(readdirSync(join(dir, '.tmp')), []);
  });

  test('a key with an empty segment round-trips', async () => {
    const s = new FsBlobStore(join(root, 'empty-seg'));
    await s.put('a//b', Readable.from([Buffer.from('z')]));
    assert.deepEqual((await s.list('a/')).map((i) => i.key), ['a//b']);
  });
});
