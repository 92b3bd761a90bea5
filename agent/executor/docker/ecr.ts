// CircleCI's `aws_auth:` for images in Amazon ECR: the agent trades the access keys for an ECR
// authorization token (GetAuthorizationToken) when — and only when — a pull needs credentials,
// and pulls with user `AWS` and the token's password, as `aws ecr get-login-password` does.
// The region comes from the image's registry host; AWS_ENDPOINT_URL_ECR (read by the SDK)
// points the call elsewhere, e.g. at a test server.

import { createRequire } from 'node:module';
import { ExecutorError } from '../executor.js';
import type { RegistryAuth } from './container-spec.js';

export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\//;

/** The ECR region an image lives in, from its host; else `fallback`. */
export function ecrRegion(image: string, fallback: string): string {
  return ECR_HOST.exec(image)?.[2] ?? fallback;
}

/** Fetches pull credentials for `image` from ECR with `keys`. */
export async function ecrCredentials(image: string, keys: AwsKeys, region: string): Promise<RegistryAuth> {
  // required, not import()ed: the bundle runs where import() has no loader (scripts/bundle.mjs)
  const { ECRClient, GetAuthorizationTokenCommand } = createRequire(import.meta.url)('@aws-sdk/client-ecr') as typeof import('@aws-sdk/client-ecr');
  // a registry API that takes the connection and never answers must not hold the pull forever
  const client = new ECRClient({ region, credentials: keys, maxAttempts: 2, requestHandler: { connectionTimeout: 10_000, requestTimeout: 30_000, throwOnRequestTimeout: true } });
  const fail = (reason: string): ExecutorError =>
    new ExecutorError(`cannot get an ECR token to pull image "${image}" (region ${region}): ${reason}; check the image's aws_auth keys`);
  try {
    const registryId = ECR_HOST.exec(image)?.[1];
    const answer = await client.send(new GetAuthorizationTokenCommand(registryId ? { registryIds: [registryId] } : {}));
    const token = answer.authorizationData?.[0]?.authorizationToken;
    if (!token) throw fail('the answer carried no authorization token');
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw fail('the authorization token is not "user:password"');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  } catch (error) {
    if (error instanceof ExecutorError) throw error;
    throw fail(error instanceof Error ? error.message.split('\n')[0] : String(error));
  } finally {
    client.destroy();
  }
}
