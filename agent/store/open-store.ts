/**
 * `--store DIR|s3://bucket/prefix` → a BlobStore. The S3 backend (and the AWS SDK behind it) is
 * loaded only when asked for: every other run would pay its start-up cost.
 */
import { join, resolve } from 'node:path';
import { deckhandHome } from '../config/orb-registry.js';
import { UsageError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-store.js';

export interface S3Location {
  bucket: string;
  /** key prefix, without leading `/`, ending in `/` unless empty */
  prefix: string;
}

/** The default store: `$DECKHAND_HOME/store`. */
export function defaultStoreDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(deckhandHome(env), 'store');
}

/** Parses `s3://bucket[/prefix]`; undefined when `spec` is not an s3 URL. Throws UsageError when malformed. */
export function parseS3Spec(spec: string): S3Location | undefined {
  if (!/^s3:\/\//i.test(spec)) return undefined;
  const rest = spec.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  // S3's bucket naming rules (3–63 characters; lower-case letters, digits, dots, hyphens)
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`--store ${spec}: "${bucket}" is not a valid S3 bucket name (3-63 lower-case letters, digits, dots or hyphens); use s3://bucket/prefix`);
  }
  const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  return { bucket, prefix: path === '' ? '' : `${path}/` };
}

/** The store `--store` names, as an assignment carries it: an absolute folder or s3://bucket/prefix (the default folder when none). */
export function storeUrl(spec: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (spec === undefined || spec === '') return defaultStoreDir(env);
  if (parseS3Spec(spec)) return spec;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) throw new UsageError(`--store ${spec}: unsupported scheme; give a folder or s3://bucket/prefix`);
  return resolve(spec);
}

/** The store `--store` names (a folder, or s3://bucket/prefix), or the default folder. */
export async function openBlobStore(spec: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): Promise<BlobStore> {
  const url = storeUrl(spec, env);
  const s3 = parseS3Spec(url);
  if (s3) {
    const { S3BlobStore } = await import('./s3-store.js');
    return S3BlobStore.fromEnvironment(s3, env);
  }
  return new FsBlobStore(url);
}
