/**
 * The BlobStore contract as tests, run against every backend (the filesystem store, and the S3
 * store against a real S3-protocol server): streamed bodies, first-writer-wins `ifAbsent`,
 * trailing metadata, plain-string prefix listing, ranged reads, failed uploads leaving nothing.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import type { BlobStore } from '../../agent/store/blob-store.js';

export async function readAll(body: Readable | undefined): Promise<Buffer> {
  assert.ok(body, 'expected a body');
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A body of `size` pseudo-random bytes produced in 64 KiB chunks, never whole in memory. */
function generated(size: number, seed: string): { body: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let left = size;
  let n = 0;
  const body = new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const len = Math.min(left, 64 * 1024);
      const chunk = createHash('sha512').update(`${seed}:${n++}`).digest();
      const buf = Buffer.alloc(len, chunk);
      left -= len;
      hash.update(buf);
      this.push(buf);
    },
  });
  return { body, sha256: () => hash.digest('hex') };
}

function failing(after: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(after);
        return;
      }
      this.destroy(new Error('the archive broke off'));
    },
  });
}

/** Registers the contract tests; `store()` gives the backend under test (fresh per suite). */
export function blobStoreContract(store: () => BlobStore): void {
  test('put then get, stat and delete', async () => {
    const s = store();
    assert.equal(await s.put('a/b/c.txt', Readable.from([Buffer.from('hello '), Buffer.from('world')]), { metadata: { sha256: 'x' } }), true);
    assert.equal((await readAll(await s.get('a/b/c.txt'))).toString(), 'hello world');
    const info = await s.stat('a/b/c.txt');
    assert.ok(info);
    assert.equal(info.key, 'a/b/c.txt');
    assert.equal(info.size, 11);
    assert.deepEqual(info.metadata, { sha256: 'x' });
    assert.ok(Math.abs(info.modified.getTime() - Date.now()) < 60_000);
    await s.delete('a/b/c.txt');
    assert.equal(await s.get('a/b/c.txt'), undefined);
    assert.equal(await s.stat('a/b/c.txt'), undefined);
    await s.delete('a/b/c.txt');
  });

  test('missing keys: get and stat say undefined, list is empty', async () => {
    const s = store();
    assert.equal(await s.get('nothing/here'), undefined);
    assert.equal(await s.stat('nothing/here'), undefined);
    assert.deepEqual(await s.list('nothing/'), []);
  });

  test('an empty body is a blob of zero bytes', async () => {
    const s = store();
    assert.equal(await s.put('empty', Readable.from([])), true);
    assert.equal((await s.stat('empty'))?.size, 0);
    assert.equal((await readAll(await s.get('empty'))).length, 0);
  });

  test('ifAbsent: the first writer wins, the second is told and changes nothing', async () => {
    const s = store();
    assert.equal(await s.put('caches/p/k', Readable.from([Buffer.from('first')]), { ifAbsent: true, metadata: { n: '1' } }), true);
    assert.equal(await s.put('caches/p/k', Readable.from([Buffer.from('second')]), { ifAbsent: true, metadata: { n: '2' } }), false);
    assert.equal((await readAll(await s.get('caches/p/k'))).toString(), 'first');
    assert.equal((await s.stat('caches/p/k'))?.metadata.n, '1');
    // without ifAbsent a put replaces
    assert.equal(await s.put('caches/p/k', Readable.from([Buffer.from('third')])), true);
    assert.equal((await readAll(await s.get('caches/p/k'))).toString(), 'third');
  });

  test('two ifAbsent writers at once: exactly one wins', async () => {
    const s = store();
    const results = await Promise.all(['x', 'y', 'z'].map((v) => s.put('race/key', Readable.from([Buffer.alloc(200_000, v)]), { ifAbsent: true })));
    assert.equal(results.filter(Boolean).length, 1);
    const body = await readAll(await s.get('race/key'));
    assert.equal(body.length, 200_000);
    assert.equal(new Set(body).size, 1);
  });

  test('list is a plain string prefix, not a folder, and a key may prefix another', async () => {
    const s = store();
    for (const k of ['v1-abc', 'v1-abd', 'v1-abc/more', 'v1-x/y/z', 'v2-abc', 'v1.a b+c%d=e']) await s.put(`caches/p/${k}`, Readable.from([Buffer.from(k)]));
    const keys = async (prefix: string) => (await s.list(prefix)).map((i) => i.key).sort();
    assert.deepEqual(await keys('caches/p/v1-ab'), ['caches/p/v1-abc', 'caches/p/v1-abc/more', 'caches/p/v1-abd']);
    assert.deepEqual(await keys('caches/p/v1-x/'), ['caches/p/v1-x/y/z']);
    assert.deepEqual(await keys('caches/p/v1'), ['caches/p/v1-abc', 'caches/p/v1-abc/more', 'caches/p/v1-abd', 'caches/p/v1-x/y/z', 'caches/p/v1.a b+c%d=e']);
    assert.deepEqual(await keys('caches/p/v1.a b+'), ['caches/p/v1.a b+c%d=e']);
    assert.equal((await readAll(await s.get('caches/p/v1.a b+c%d=e'))).toString(), 'v1.a b+c%d=e');
    const info = (await s.list('caches/p/v2'))[0];
    assert.equal(info.size, 6);
  });

  test('list reports when each blob was written, so the newest can be told', async () => {
    const s = store();
    await s.put('order/old', Readable.from([Buffer.from('1')]));
    await new Promise((r) => setTimeout(r, 30));
    await s.put('order/new', Readable.from([Buffer.from('2')]));
    const [a, b] = (await s.list('order/')).sort((x, y) => y.modified.getTime() - x.modified.getTime());
    assert.equal(a.key, 'order/new');
    assert.equal(b.key, 'order/old');
    assert.ok(a.modified.getTime() > b.modified.getTime());
  });

  test('trailing metadata is computed after the body ends and kept with the blob', async () => {
    const s = store();
    for (const size of [1000, 20 * 1024 * 1024 + 123]) {
      const { body, sha256 } = generated(size, `t${size}`);
      let ended = false;
      body.on('end', () => (ended = true));
      await s.put(`trailing/${size}`, body, { metadata: { kind: 'test' }, trailingMetadata: async () => (assert.ok(ended), { sha256: sha256() }) });
      const info = await s.stat(`trailing/${size}`);
      assert.equal(info?.size, size);
      assert.equal(info?.metadata.kind, 'test');
      const got = createHash('sha256').update(await readAll(await s.get(`trailing/${size}`))).digest('hex');
      assert.equal(info?.metadata.sha256, got);
      // list carries the same metadata
      assert.equal((await s.list(`trailing/${size}`))[0]?.metadata.sha256, got);
    }
  });

  test('a ranged get returns exactly those bytes, at the start, middle and end of a multipart-sized blob', async () => {
    const s = store();
    const size = 17 * 1024 * 1024 + 5;
    const whole = Buffer.alloc(size);
    for (let i = 0; i < size; i += 32) createHash('sha256').update(String(i)).digest().copy(whole, i);
    await s.put('ranged/blob', Readable.from([whole.subarray(0, 9 << 20), whole.subarray(9 << 20)]));
    for (const [start, end] of [
      [0, 0],
      [0, 99],
      [1234567, 9 * 1024 * 1024 + 10],
      [size - 10, size - 1],
      [size - 1, size - 1],
      [0, size - 1],
    ]) {
      const got = await readAll(await s.get('ranged/blob', { start, end }));
      assert.equal(got.length, end - start + 1, `bytes ${start}-${end}`);
      assert.ok(got.equals(whole.subarray(start, end + 1)), `bytes ${start}-${end}`);
    }
    // past the end: the bytes the blob holds, then none at all
    assert.ok((await readAll(await s.get('ranged/blob', { start: size - 3, end: size + 100 }))).equals(whole.subarray(size - 3)));
    assert.equal((await readAll(await s.get('ranged/blob', { start: size, end: size + 100 }))).length, 0);
    assert.equal(await s.get('ranged/none', { start: 0, end: 10 }), undefined);
    await assert.rejects(s.get('ranged/blob', { start: 10, end: 9 }), /invalid byte range 10-9/);
    await assert.rejects(s.get('ranged/blob', { start: -1, end: 9 }), /invalid byte range -1-9/);
  });

  test('a body that fails part-way leaves nothing under the key', async () => {
    const s = store();
    await assert.rejects(s.put('broken/small', failing(Buffer.from('partial'))));
    assert.equal(await s.stat('broken/small'), undefined);
    // beyond one upload part: a multipart upload is aborted
    await assert.rejects(s.put('broken/large', failing(randomBytes(17 * 1024 * 1024))));
    assert.equal(await s.stat('broken/large'), undefined);
    assert.deepEqual(await s.list('broken/'), []);
  });
}
