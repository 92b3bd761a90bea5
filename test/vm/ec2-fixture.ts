// The EC2 side of the aws provider's tests: moto's EC2 backend on loopback (test/support/moto.ts)
// with a VPC, a subnet, a security group and two of moto's AMIs, and the reads a test makes of what
// the provider did (instances by tag, their user data), through the real SDK.

import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { startMoto, type MotoServer } from '../support/moto.js';

export const REGION = 'us-east-1';

export interface Ec2World {
  moto: MotoServer;
  client: EC2Client;
  /** what the provider is handed as the agent's environment */
  env: Record<string, string>;
  subnetId: string;
  securityGroupIds: string[];
  /** two AMIs moto knows */
  amis: [string, string];
  stop(): Promise<void>;
}

export async function startEc2World(): Promise<Ec2World> {
  // moto checks AMIs and instance types only when asked to
  const moto = await startMoto({ MOTO_ENABLE_AMI_VALIDATION: 'true', MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION: 'true' });
  const env = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_ENDPOINT_URL_EC2: moto.endpoint };
  const client = new EC2Client({ region: REGION, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  try {
    const vpc = await client.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }));
    const vpcId = vpc.Vpc?.VpcId as string;
    const subnet = await client.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.20.1.0/24' }));
    const group = await client.send(new CreateSecurityGroupCommand({ GroupName: 'deckhand-vms', Description: 'SSH from the agent', VpcId: vpcId }));
    const images = await client.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
    const ids = (images.Images ?? []).filter((i) => i.Architecture === 'x86_64').map((i) => i.ImageId as string);
    if (ids.length < 2) throw new Error('moto lists fewer than two x86_64 AMIs');
    return {
      moto,
      client,
      env,
      subnetId: subnet.Subnet?.SubnetId as string,
      securityGroupIds: [group.GroupId as string],
      amis: [ids[0] as string, ids[1] as string],
      stop: async () => {
        client.destroy();
        await moto.stop();
      },
    };
  } catch (error) {
    client.destroy();
    await moto.stop();
    throw error;
  }
}

/** An instance as EC2 describes it now. */
export async function describeInstance(world: Ec2World, id: string): Promise<Instance> {
  const answer = await world.client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const instance = answer.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`EC2 does not know instance ${id}`);
  return instance;
}

/** Instances (any state) carrying tag `key=value`. */
export async function instancesTagged(world: Ec2World, key: string, value: string): Promise<Instance[]> {
  const answer = await world.client.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${key}`, Values: [value] }] }));
  return (answer.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

export function tagsOf(instance: Instance): Record<string, string> {
  return Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

/** The user data EC2 stored for an instance, decoded. */
export async function userDataOf(world: Ec2World, id: string): Promise<string> {
  const answer = await world.client.send(new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: 'userData' }));
  return Buffer.from(answer.UserData?.Value ?? '', 'base64').toString('utf8');
}

/** An instance launched by someone else than Deckhand. */
export async function launchForeignInstance(world: Ec2World): Promise<string> {
  const answer = await world.client.send(
    new RunInstancesCommand({
      ImageId: world.amis[0],
      InstanceType: 't3.micro',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: world.subnetId,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'ManagedBy', Value: 'someone-else' }] }],
    }),
  );
  return answer.Instances?.[0]?.InstanceId as string;
}

export async function terminateInstance(world: Ec2World, id: string): Promise<void> {
  await world.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
}

export function stateOf(instance: Instance): string {
  return instance.State?.Name ?? 'unknown';
}
