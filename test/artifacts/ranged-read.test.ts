/**
 * Range requests are ranged reads of the store: the artifact server asks the BlobStore for just
 * the requested bytes, so a tail of a large artifact reads a few bytes, not the whole blob (on the
 * filesystem store and on S3 against moto_server). The store is real; a wrapper only counts the
 * bytes that come out of it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startArtifactServer } from '../../agent/artifacts/server.js';
import { silentLogger } from '../../agent/daemon-log.js';
import type { BlobStore, ByteRange } from '../../agent/store/blob-store.js';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { S3BlobStore } from '../../agent/store/s3-store.js';
import { artifactPrefix } from '../../agent/store/keys.js';
import { createMotoBucket, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';
import { get } from './artifacts-fixture.js';

const SIZE = 24 * 1024 * 1024 + 7;
const RUN = 'run-ranged';

/** The artifact's bytes, made in 1 MiB pieces from a counter so they can be checked anywhere. */
function byteAt(i: number): number {
  return (i * 31 + (i >> 10)) & 0xff;
}
function expected(start: number, end: number): Buffer {
  const b = Buffer.alloc(end - start + 1);
  for (let i = start; i <= end; i++) b[i - start] = byteAt(i);
  return b;
}
function body(): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= SIZE) return void this.push(null);
      const end = Math.min(SIZE, at + (1 << 20)) - 1;
      this.push(expected(at, end));
      at = end + 1;
    },
  });
}

/** Counts what the store hands out; everything else goes straight to the store. */
class CountingStore implements BlobStore {
  bytesRead = 0;
  ranges: (ByteRange | undefined)[] = [];
  constructor(private readonly inner: BlobStore) {}
  get location(): string {
    return this.inner.location;
  }
  put: BlobStore['put'] = (...a) => this.inner.put(...a);
  stat: BlobStore['stat'] = (...a) => this.inner.stat(...a);
  list: BlobStore['list'] = (...a) => this.inner.list(...a);
  delete: BlobStore['delete'] = (...a) => this.inner.delete(...a);
  async get(key: string, range?: ByteRange): Promise<Readable | undefined> {
    this.ranges.push(range);
    const r = await this.inner.get(key, range);
    if (!r) return undefined;
    const count = (n: number): void => void (this.bytesRead += n);
    return Readable.from(
      (async function* () {
        for await (const c of r as AsyncIterable<Buffer>) {
          count(c.length);
          yield c;
        }
      })(),
    );
  }
}

function rangedReads(name: string, open: () => Promise<BlobStore>): void {
  describe(`Range requests read only the range from the store: ${name}`, () => {
    let store: CountingStore;
    let server: Awaited<ReturnType<typeof startArtifactServer>>;
    before(async () => {
      store = new CountingStore(await open());
      await store.put(`${artifactPrefix(RUN)}big.bin`, body());
      server = await startArtifactServer({ store, host: '127.0.0.1', port: 0, logger: silentLogger });
    });
    after(async () => server?.close(1000));

    const origin = (): string => new URL(server.url).origin;

    for (const [range, start, end] of [
      ['bytes=-10', SIZE - 10, SIZE - 1],
      [`bytes=${SIZE - 100}-`, SIZE - 100, SIZE - 1],
      ['bytes=20000000-20000999', 20000000, 20000999],
      ['bytes=0-0', 0, 0],
    ] as const) {
      test(`${range}: 206 with those bytes, and the store read ${end - start + 1} bytes`, async () => {
        store.bytesRead = 0;
        store.ranges = [];
        const r = await get(origin(), `/artifacts/${RUN}/big.bin`, { range });
        assert.equal(r.status, 206);
        assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
        assert.ok(r.body.equals(expected(start, end)));
        assert.deepEqual(store.ranges, [{ start, end }]);
        assert.equal(store.bytesRead, end - start + 1);
      });
    }

    test('without Range: the whole blob, read once', async () => {
      store.bytesRead = 0;
      store.ranges = [];
      const r = await get(origin(), `/artifacts/${RUN}/big.bin`);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, SIZE);
      assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(expected(0, SIZE - 1)).digest('hex'));
      assert.deepEqual(store.ranges, [undefined]);
      assert.equal(store.bytesRead, SIZE);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'deckhand-artifacts-ranged-'));
let moto: MotoServer | undefined;
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await moto?.stop();
});

rangedReads('filesystem store', async () => new FsBlobStore(join(dir, 'store')));
rangedReads('S3 store (moto_server)', async () => {
  moto = await startMoto();
  await createMotoBucket(moto.endpoint, 'ranged');
  return S3BlobStore.fromEnvironment({ bucket: 'ranged', prefix: 'p/' }, motoStoreEnv(moto.endpoint));
});
