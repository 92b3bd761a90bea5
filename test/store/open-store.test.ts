/** `--store` parsing: folders, s3:// URLs, and the errors for what is neither. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { openBlobStore, parseS3Spec } from '../../agent/store/open-store.js';
import { UsageError } from '../../agent/errors.js';

test('no --store: $DECKHAND_HOME/store', async () => {
  const s = await openBlobStore(undefined, { DECKHAND_HOME: '/tmp/dh-home' });
  assert.ok(s instanceof FsBlobStore);
  assert.equal(s.location, join('/tmp/dh-home', 'store'));
});

test('a folder, relative to the current directory', async () => {
  assert.equal((await openBlobStore('rel/store', {})).location, join(process.cwd(), 'rel/store'));
});

test('s3://bucket/prefix', () => {
  assert.deepEqual(parseS3Spec('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseS3Spec('s3://my-bucket/'), { bucket: 'my-bucket', prefix: '' });
  assert.deepEqual(parseS3Spec('s3://my.bucket-1/ci/caches/'), { bucket: 'my.bucket-1', prefix: 'ci/caches/' });
  assert.equal(parseS3Spec('/var/store'), undefined);
});

test('bad stores are usage errors that say how to write one', async () => {
  assert.throws(() => parseS3Spec('s3://'), (e: unknown) => e instanceof UsageError && /not a valid S3 bucket name/.test(e.message));
  assert.throws(() => parseS3Spec('s3://Upper_Case/x'), /"Upper_Case" is not a valid S3 bucket name/);
  await assert.rejects(openBlobStore('gs://bucket/x', {}), /unsupported scheme; give a folder or s3:\/\/bucket\/prefix/);
  await assert.rejects(openBlobStore('s3://bucket/x', { DECKHAND_S3_ENDPOINT: 'localhost:9000' }), /must be an http:\/\/ or https:\/\/ URL/);
  await assert.rejects(openBlobStore('s3://bucket/x', { AWS_ACCESS_KEY_ID: 'a' }), /set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
});
