/**
 * Sets when a stored blob was saved, for retention tests without waiting days: the filesystem
 * store keeps it in the blob's meta.json, the S3 store in the object's `deckhand-modified` user
 * metadata (rewritten by a copy of the object onto itself, as S3 requires).
 */
import { CopyObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FsBlobStore } from '../../agent/store/fs-store.js';
import { motoS3Client } from '../support/moto.js';

/** Backdates blob `key` of a filesystem store. */
export function backdateFsKey(store: FsBlobStore, key: string, saved: Date): void {
  backdateFsBlob(store.blobDir(key), saved);
}

/** `blobDir` is a filesystem blob's folder (`…/<key>.blob`). */
export function backdateFsBlob(blobDir: string, saved: Date): void {
  const file = join(blobDir, 'meta.json');
  const meta = JSON.parse(readFileSync(file, 'utf8')) as { modified: string };
  meta.modified = saved.toISOString();
  writeFileSync(file, JSON.stringify(meta));
}

export async function backdateS3Object(endpoint: string, bucket: string, key: string, saved: Date): Promise<void> {
  const client = motoS3Client(endpoint);
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const Metadata = { ...(head.Metadata ?? {}), 'deckhand-modified': String(saved.getTime()) };
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: `${bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`, MetadataDirective: 'REPLACE', Metadata }));
  } finally {
    client.destroy();
  }
}

export function daysAgo(days: number): Date {
  return new Date(Date.now() - days * 24 * 60 * 60 * 1000);
}
