/**
 * The EC2 calls the aws provider makes, on the AWS SDK for JavaScript v3: launch one instance, wait
 * for it to run with an address, re-tag, terminate, list Deckhand's. Every failure is one line from
 * ec2-errors.ts. The SDK is loaded when the provider is made (about 150 ms), never at agent start.
 *
 * Credentials and endpoint come from the environment the caller hands in, never from process.env:
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) when set, else the SDK's own chain
 * (shared config files, SSO, an instance or task role); AWS_ENDPOINT_URL_EC2, else AWS_ENDPOINT_URL,
 * for an EC2-protocol server other than AWS's (the tests' moto).
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EC2Client, Instance, RunInstancesCommandInput, _InstanceType } from '@aws-sdk/client-ec2';
import { InfrastructureError } from '../../errors.js';
import { ec2ErrorCode, ec2Failure, type Ec2CallContext } from './ec2-errors.js';
import { MANAGED_BY, MANAGED_BY_VALUE, type Tag } from './tags.js';

type Ec2Sdk = typeof import('@aws-sdk/client-ec2');

/** What the provider reads of the agent's environment. */
export type AgentEnvironment = Readonly<Record<string, string | undefined>>;

export interface LaunchSpec {
  ami: string;
  imageName: string;
  instanceType: string;
  subnetId: string;
  securityGroupIds: readonly string[];
  /** ask for a public address (the subnet's default otherwise) */
  publicAddress: boolean;
  /** the script, not yet base64 */
  userData: string;
  tags: Tag[];
}

export interface AddressWait {
  address: 'private' | 'public';
  timeoutMs: number;
  pollMs: number;
  signal?: AbortSignal;
}

/** States an instance leaves only by being terminated: listed, reaped. */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export class Ec2Instances {
  readonly region: string;
  private readonly sdk: Ec2Sdk;
  private readonly client: EC2Client;
  private readonly endpoint: string | undefined;

  constructor(region: string, env: AgentEnvironment) {
    this.region = region;
    this.endpoint = env.AWS_ENDPOINT_URL_EC2 || env.AWS_ENDPOINT_URL || undefined;
    if (this.endpoint !== undefined && !/^https?:\/\/[^/]+/.test(this.endpoint)) {
      throw new InfrastructureError(`aws provider (region ${region}): EC2 endpoint "${this.endpoint}" (AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL) must be an http:// or https:// URL`);
    }
    const keyId = env.AWS_ACCESS_KEY_ID;
    const secret = env.AWS_SECRET_ACCESS_KEY;
    if (Boolean(keyId) !== Boolean(secret)) {
      throw new InfrastructureError(`aws provider (region ${region}): set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the agent, or neither (then the SDK's chain: profile, SSO, instance role)`);
    }
    // required, not import()ed: the bundle runs where import() has no loader (scripts/bundle.mjs)
    this.sdk = createRequire(import.meta.url)('@aws-sdk/client-ec2') as Ec2Sdk;
    // the SDK's notice about future Node versions is not the job's business (as the S3 store does)
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new this.sdk.EC2Client({
      region,
      ...(this.endpoint ? { endpoint: this.endpoint } : {}),
      ...(keyId && secret ? { credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } } : {}),
      maxAttempts: 4,
      // an endpoint that accepts and never answers must not hold a job forever
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
    });
  }

  /** The context of a failing call, for its one-line error. */
  context(action: string, extra: Partial<Ec2CallContext> = {}): Ec2CallContext {
    return { region: this.region, action, ...(this.endpoint ? { endpoint: this.endpoint } : {}), ...extra };
  }

  /**
   * Launches one instance; returns its id. Never aborted halfway: EC2 may have launched it by the
   * time an abort lands, and then only its id lets it be terminated. The client token makes the
   * SDK's retries of a lost answer launch nothing twice.
   */
  async launch(spec: LaunchSpec): Promise<string> {
    const input: RunInstancesCommandInput = {
      ImageId: spec.ami,
      InstanceType: spec.instanceType as _InstanceType,
      MinCount: 1,
      MaxCount: 1,
      ClientToken: randomUUID(),
      UserData: Buffer.from(spec.userData, 'utf8').toString('base64'),
      // a VM that powers itself off is gone, not a stopped instance still holding its disk
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      TagSpecifications: [
        { ResourceType: 'instance', Tags: spec.tags },
        { ResourceType: 'volume', Tags: spec.tags },
      ],
      ...(spec.publicAddress
        ? { NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: spec.subnetId, Groups: [...spec.securityGroupIds], AssociatePublicIpAddress: true, DeleteOnTermination: true }] }
        : { SubnetId: spec.subnetId, SecurityGroupIds: [...spec.securityGroupIds] }),
    };
    let answer;
    try {
      answer = await this.client.send(new this.sdk.RunInstancesCommand(input));
    } catch (error) {
      throw ec2Failure(error, this.context('RunInstances', { ami: spec.ami, imageName: spec.imageName, instanceType: spec.instanceType, subnetId: spec.subnetId, securityGroupIds: spec.securityGroupIds }));
    }
    const id = answer.Instances?.[0]?.InstanceId;
    if (id === undefined) throw new InfrastructureError(`aws provider (region ${this.region}): RunInstances answered without an instance id`);
    return id;
  }

  /** One instance as EC2 describes it now; undefined when EC2 does not know it (yet, or any more). */
  async describe(id: string, signal?: AbortSignal): Promise<Instance | undefined> {
    try {
      const answer = await this.client.send(new this.sdk.DescribeInstancesCommand({ InstanceIds: [id] }), { abortSignal: signal });
      return answer.Reservations?.[0]?.Instances?.[0];
    } catch (error) {
      // just after RunInstances, EC2 may not list the instance yet (eventual consistency)
      if (ec2ErrorCode(error) === 'InvalidInstanceID.NotFound') return undefined;
      throw ec2Failure(error, this.context('DescribeInstances'));
    }
  }

  /** Waits until `id` runs and has the address asked for; returns that address. */
  async waitForAddress(id: string, wait: AddressWait): Promise<string> {
    const deadline = Date.now() + wait.timeoutMs;
    let state = 'unknown';
    for (;;) {
      if (wait.signal?.aborted) throw new InfrastructureError(`aws provider (region ${this.region}): canceled while instance ${id} was booting (state ${state})`);
      let instance: Instance | undefined;
      try {
        instance = await this.describe(id, wait.signal);
      } catch (error) {
        if (wait.signal?.aborted) continue;
        throw error;
      }
      state = instance?.State?.Name ?? 'not listed yet';
      if (state === 'running') {
        const address = wait.address === 'public' ? instance?.PublicIpAddress : instance?.PrivateIpAddress;
        if (address) return address;
      } else if (state !== 'pending' && state !== 'not listed yet') {
        const why = instance?.StateReason?.Message ?? instance?.StateTransitionReason ?? 'no reason given';
        throw new InfrastructureError(`aws provider (region ${this.region}): instance ${id} went ${state} while booting (${why})`);
      }
      if (Date.now() >= deadline) {
        const missing = state === 'running' ? `it runs but has no ${wait.address} address${wait.address === 'public' ? ' (does the subnet give public addresses?)' : ''}` : `it is still ${state}`;
        throw new InfrastructureError(`aws provider (region ${this.region}): instance ${id} was not ready within ${Math.round(wait.timeoutMs / 1000)} s: ${missing}`);
      }
      await pause(Math.min(wait.pollMs, Math.max(0, deadline - Date.now())), wait.signal);
    }
  }

  /** Sets (adds or overwrites) tags on an instance. */
  async tag(id: string, tags: Tag[]): Promise<void> {
    try {
      await this.client.send(new this.sdk.CreateTagsCommand({ Resources: [id], Tags: tags }));
    } catch (error) {
      throw ec2Failure(error, this.context('CreateTags'));
    }
  }

  /** Terminates instances; one EC2 no longer knows counts as gone. */
  async terminate(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      await this.client.send(new this.sdk.TerminateInstancesCommand({ InstanceIds: [...ids] }));
    } catch (error) {
      if (ec2ErrorCode(error) !== 'InvalidInstanceID.NotFound') throw ec2Failure(error, this.context('TerminateInstances'));
      // one unknown id fails the whole call: end the others one by one
      if (ids.length > 1) for (const id of ids) await this.terminate([id]);
    }
  }

  /** Deckhand's instances in this region that are not terminated (nor terminating). */
  async listManaged(): Promise<Instance[]> {
    const found: Instance[] = [];
    try {
      const pages = this.sdk.paginateDescribeInstances(
        { client: this.client },
        { Filters: [{ Name: `tag:${MANAGED_BY}`, Values: [MANAGED_BY_VALUE] }, { Name: 'instance-state-name', Values: LIVE_STATES }] },
      );
      for await (const page of pages) {
        for (const reservation of page.Reservations ?? []) found.push(...(reservation.Instances ?? []));
      }
    } catch (error) {
      throw ec2Failure(error, this.context('DescribeInstances'));
    }
    return found;
  }

  destroy(): void {
    this.client.destroy();
  }
}

/** Waits `ms`, or less when `signal` fires. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
