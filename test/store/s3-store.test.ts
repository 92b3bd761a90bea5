/**
 * The S3 BlobStore against a real S3-protocol server (moto_server on a free loopback port; the
 * bucket made through the SDK): the shared contract, configuration from the environment, and
 * errors that say what to fix.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { openBlobStore } from '../../agent/store/open-store.js';
import { S3BlobStore } from '../../agent/store/s3-store.js';
import { createMotoBucket, motoStoreEnv, startMoto, type MotoServer } from '../support/moto.js';
import { blobStoreContract, readAll } from './blob-store-contract.js';

let moto: MotoServer;
const BUCKET = 'deckhand-test';

before(async () => {
  moto = await startMoto();
  await createMotoBucket(moto.endpoint, BUCKET);
});
after(async () => moto?.stop());

describe('S3BlobStore: the BlobStore contract', () => {
  let n = 0;
  blobStoreContract(() => S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: `contract-${n++}/` }, motoStoreEnv(moto.endpoint)));
});

describe('S3BlobStore', () => {
  test('openBlobStore reads s3://bucket/prefix and the AWS variables; AWS_ENDPOINT_URL_S3 works too', async () => {
    const env = { ...motoStoreEnv(moto.endpoint), DECKHAND_S3_ENDPOINT: '', AWS_ENDPOINT_URL_S3: moto.endpoint };
    const s = await openBlobStore(`s3://${BUCKET}/some/prefix/`, env);
    assert.equal(s.location, `s3://${BUCKET}/some/prefix/`);
    await s.put('k', Readable.from([Buffer.from('v')]));
    const raw = S3BlobStore.fromEnvironment({ bucket: BUCKET, prefix: '' }, motoStoreEnv(moto.endpoint));
    assert.equal((await readAll(await raw.get('some/prefix/k'))).toString(), 'v');
  });

  test('a bucket that does not exist is an error naming the store', async () => {
    const s = await openBlobStore('s3://no-such-bucket-here/x', motoStoreEnv(moto.endpoint));
    await assert.rejects(s.put('k', Readable.from([Buffer.from('v')])), /S3 store s3:\/\/no-such-bucket-here\/x\/: cannot store k: NoSuchBucket/);
    await assert.rejects(s.list(''), /S3 store s3:\/\/no-such-bucket-here\/x\/: cannot list : NoSuchBucket/);
  });
});
