/**
 * The S3-compatible BlobStore (`--store s3://bucket/prefix`), on the AWS SDK's S3 client.
 *
 * Configuration is the usual AWS one: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
 * (`AWS_SESSION_TOKEN`), `AWS_REGION` (default us-east-1), plus an endpoint for S3-compatible
 * servers: `DECKHAND_S3_ENDPOINT`, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`. With an
 * endpoint, path-style addressing is used (MinIO, Ceph, moto need it; set
 * `DECKHAND_S3_PATH_STYLE=false` for virtual-hosted style).
 *
 * Uploads stream: the body is cut into 8 MiB parts sent by a multipart upload with a few parts in
 * flight, so memory stays bounded whatever the archive's size; a body smaller than one part is a
 * single PutObject. A failed upload is aborted, leaving nothing under the key. `ifAbsent` is a
 * conditional write (`If-None-Match: *`), which S3 evaluates atomically at completion.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { InfrastructureError, UsageError } from '../errors.js';
import { checkByteRange, type BlobInfo, type BlobStore, type ByteRange, type PutOptions } from './blob-store.js';
import type { S3Location } from './open-store.js';

const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 4;
const HEADS_IN_FLIGHT = 8;
/** user metadata key holding the write time in milliseconds (S3's LastModified has whole seconds) */
const MODIFIED_KEY = 'deckhand-modified';

export class S3BlobStore implements BlobStore {
  readonly location: string;

  constructor(
    private readonly client: S3Client,
    private readonly where: S3Location,
    /** where requests go and how long one may take, for a message that names an endpoint that did not answer */
    private readonly endpoint: { url: string; timeoutSeconds: number } = { url: 'S3', timeoutSeconds: RESPONSE_TIMEOUT_SECONDS },
  ) {
    this.location = `s3://${where.bucket}/${where.prefix}`;
  }

  static fromEnvironment(where: S3Location, env: NodeJS.ProcessEnv): S3BlobStore {
    const endpoint = env.DECKHAND_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
    if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
      throw new UsageError(`S3 endpoint "${endpoint}" (DECKHAND_S3_ENDPOINT / AWS_ENDPOINT_URL_S3) must be an http:// or https:// URL`);
    }
    const keyId = env.AWS_ACCESS_KEY_ID;
    const secret = env.AWS_SECRET_ACCESS_KEY;
    if ((keyId === undefined) !== (secret === undefined)) throw new UsageError('set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the S3 store, or neither');
    // the SDK's notice about future Node versions is not the job's business: keep it off the output
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
    const timeoutSeconds = storeTimeout(env);
    const client = new S3Client({
      region,
      // an endpoint that takes the connection and never answers must not hold a job forever
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_SECONDS * 1000, requestTimeout: timeoutSeconds * 1000, throwOnRequestTimeout: true },
      maxAttempts: 2,
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: endpoint !== undefined && env.DECKHAND_S3_PATH_STYLE !== 'false',
      ...(keyId && secret ? { credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } } : {}),
      // archives carry their own SHA-256; extra checksums are only sent where S3 requires them,
      // which S3-compatible servers that predate flexible checksums also accept
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    return new S3BlobStore(client, where, { url: endpoint ?? `https://s3.${region}.amazonaws.com`, timeoutSeconds });
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<boolean> {
    const Key = this.objectKey(key);
    const Metadata = { ...(opts.metadata ?? {}), [MODIFIED_KEY]: String(Date.now()) };
    const IfNoneMatch = opts.ifAbsent ? '*' : undefined;
    // a cheap early answer; the conditional write below is what makes it safe against a race
    if (opts.ifAbsent && (await this.stat(key))) {
      body.destroy();
      return false;
    }
    const chunks = partsOf(body);
    const first = await chunks.next();
    const firstPart = first.done ? Buffer.alloc(0) : first.value;
    const second = first.done ? first : await chunks.next();
    try {
      if (second.done) {
        const trailing = opts.trailingMetadata ? await opts.trailingMetadata() : {};
        await this.client.send(new PutObjectCommand({ Bucket: this.where.bucket, Key, Body: firstPart, ContentLength: firstPart.length, Metadata: { ...Metadata, ...trailing }, IfNoneMatch }));
        return true;
      }
      await this.multipart(Key, Metadata, IfNoneMatch, firstPart, second.value, chunks);
      if (opts.trailingMetadata) {
        // S3 takes metadata when an upload starts: a copy onto itself replaces it
        try {
          const trailing = await opts.trailingMetadata();
          await this.client.send(
            new CopyObjectCommand({ Bucket: this.where.bucket, Key, CopySource: `${this.where.bucket}/${encodeURIComponent(Key).replace(/%2F/g, '/')}`, MetadataDirective: 'REPLACE', Metadata: { ...Metadata, ...trailing } }),
          );
        } catch (err) {
          // the object is ours (the conditional write succeeded): a blob without its metadata goes
          await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key })).catch(() => undefined);
          throw err;
        }
      }
      return true;
    } catch (err) {
      body.destroy();
      if (isPreconditionFailed(err)) return false;
      throw this.describe(err, `cannot store ${key}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable | undefined> {
    if (range) checkByteRange(range);
    try {
      // a ranged read is a Range header: S3 sends only those bytes
      const Range = range ? `bytes=${range.start}-${range.end}` : undefined;
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key), Range }));
      return res.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // S3 answers 416 when `start` is past the object's end: it holds none of those bytes
      if (range && isRangeNotSatisfiable(err)) return Readable.from([]);
      throw this.describe(err, `cannot read ${key}`);
    }
  }

  async stat(key: string): Promise<BlobInfo | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key) }));
      const { [MODIFIED_KEY]: modified, ...metadata } = res.Metadata ?? {};
      const ms = Number(modified);
      return { key, size: res.ContentLength ?? 0, modified: Number.isFinite(ms) && modified ? new Date(ms) : (res.LastModified ?? new Date(0)), metadata };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.describe(err, `cannot look up ${key}`);
    }
  }

  async list(prefix: string): Promise<BlobInfo[]> {
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    try {
      do {
        const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.where.bucket, Prefix: this.objectKey(prefix), ContinuationToken }));
        for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.where.prefix.length));
        ContinuationToken = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (ContinuationToken);
    } catch (err) {
      throw this.describe(err, `cannot list ${prefix}`);
    }
    // listings carry no user metadata: each blob's comes from a HEAD, a few at a time
    const infos: BlobInfo[] = [];
    for (let i = 0; i < keys.length; i += HEADS_IN_FLIGHT) {
      const batch = await Promise.all(keys.slice(i, i + HEADS_IN_FLIGHT).map((k) => this.stat(k)));
      for (const info of batch) if (info) infos.push(info);
    }
    return infos;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      throw this.describe(err, `cannot delete ${key}`);
    }
  }

  private async multipart(Key: string, Metadata: Record<string, string>, IfNoneMatch: string | undefined, p1: Buffer, p2: Buffer, rest: AsyncGenerator<Buffer>): Promise<void> {
    const Bucket = this.where.bucket;
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key, Metadata }));
    if (!UploadId) throw new Error('the S3 server returned no upload id');
    const parts: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const send = (PartNumber: number, Body: Buffer): void => {
      const p = this.client
        .send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body, ContentLength: Body.length }))
        .then((r) => void parts.push({ PartNumber, ETag: r.ETag }))
        .catch((err: unknown) => void (failure ??= err))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    try {
      let n = 0;
      send(++n, p1);
      send(++n, p2);
      for await (const part of rest) {
        if (failure) break;
        while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
        send(++n, part);
      }
      await Promise.all(inFlight);
      if (failure) throw failure;
      parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts }, IfNoneMatch }));
    } catch (err) {
      await Promise.allSettled(inFlight);
      await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  private objectKey(key: string): string {
    return this.where.prefix + key;
  }

  private describe(err: unknown, what: string): Error {
    if (isTimeout(err)) {
      return new InfrastructureError(`S3 store ${this.location}: ${what}: the endpoint ${this.endpoint.url} did not answer within ${this.endpoint.timeoutSeconds}s (DECKHAND_STORE_TIMEOUT_SECONDS)`);
    }
    const detail = err instanceof S3ServiceException ? `${err.name}${err.message && err.message !== err.name ? `: ${err.message}` : ''}` : err instanceof Error ? err.message : String(err);
    return new InfrastructureError(`S3 store ${this.location}: ${what}: ${detail}`);
  }
}

/** The stream cut into PART_SIZE buffers (the last one shorter), read as the upload needs them. */
async function* partsOf(body: Readable): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    let buf = chunk as Buffer;
    while (size + buf.length >= PART_SIZE) {
      const take = PART_SIZE - size;
      pending.push(buf.subarray(0, take));
      yield Buffer.concat(pending);
      buf = buf.subarray(take);
      pending = [];
      size = 0;
    }
    if (buf.length > 0) {
      pending.push(buf);
      size += buf.length;
    }
  }
  if (size > 0) yield Buffer.concat(pending);
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return statusOf(err) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

function isRangeNotSatisfiable(err: unknown): boolean {
  return statusOf(err) === 416 || (err as { name?: string }).name === 'InvalidRange';
}

function isPreconditionFailed(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return statusOf(err) === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict';
}

/** How long to wait for a connection to the endpoint. */
const CONNECT_TIMEOUT_SECONDS = 10;
/** How long a request may go without an answer (no byte in that time); DECKHAND_STORE_TIMEOUT_SECONDS changes it. */
const RESPONSE_TIMEOUT_SECONDS = 60;

function storeTimeout(env: NodeJS.ProcessEnv): number {
  const raw = env.DECKHAND_STORE_TIMEOUT_SECONDS;
  if (raw === undefined || raw === '') return RESPONSE_TIMEOUT_SECONDS;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`DECKHAND_STORE_TIMEOUT_SECONDS must be a number of seconds above 0, got "${raw}"`);
  return seconds;
}

/** The SDK's connect and request timeouts, and a socket that timed out under it. */
function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return e.name === 'TimeoutError' || e.code === 'ETIMEDOUT' || /timed? ?out/i.test(e.message ?? '');
}
