// An AWS-protocol server for tests: moto's `moto_server` (PyPI moto[server], installed by
// scripts/ensure-test-tools.sh) on a free loopback port. It speaks S3, ECR and EC2 among others;
// it accepts any access keys. A missing moto_server fails the tests that use it.

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { freePort } from './free-port.js';

// the S3 clients the tests make themselves: keep the SDK's notice about future Node versions out
// of the test output, as agent/store/s3-store.ts does for deckhand's own
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface MotoServer {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  stop(): Promise<void>;
}

/** `env`: moto's own switches, e.g. MOTO_ENABLE_AMI_VALIDATION=true (added to this process's environment). */
export async function startMoto(env: Record<string, string> = {}): Promise<MotoServer> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (log.length < 20_000) log += chunk.toString('utf8');
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => ((exited = true), resolve()));
    child.once('error', (error) => ((exited = true), (log += String(error)), resolve()));
  });
  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`moto_server did not start (run scripts/ensure-test-tools.sh): ${log.trim()}`);
    const up = await fetch(`${endpoint}/moto-api/`).then(() => true, () => false);
    if (up) return { endpoint, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${log.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** An S3 client of the moto server at `endpoint` (moto takes any keys); destroy() it when done. */
export function motoS3Client(endpoint: string): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
}

/** Makes bucket `bucket` on the moto server at `endpoint`. */
export async function createMotoBucket(endpoint: string, bucket: string): Promise<void> {
  const client = motoS3Client(endpoint);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

/**
 * The variables deckhand's S3 store reads to reach the moto server at `endpoint`: the usual AWS
 * ones, with the endpoint in `endpointVariable` (deckhand's own, or the AWS SDK's standard one).
 */
export function motoStoreEnv(endpoint: string, endpointVariable: 'DECKHAND_S3_ENDPOINT' | 'AWS_ENDPOINT_URL_S3' = 'DECKHAND_S3_ENDPOINT'): NodeJS.ProcessEnv {
  return { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', [endpointVariable]: endpoint };
}
