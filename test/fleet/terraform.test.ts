/**
 * terraform/aws with the real Terraform and the real hashicorp/aws provider (a local filesystem
 * mirror, no registry): `terraform fmt` and `validate`; a plan made offline whose security group
 * rules are exactly CircleCI Server's hardening list; and an apply against moto (an EC2-, Auto
 * Scaling- and IAM-protocol server on loopback) whose launch template, groups and user data are
 * read back from the API, the user data then run in the packer-built client image, where it
 * renders the configuration `deckhand nomad client-config` renders.
 */
import { DescribeLaunchTemplateVersionsCommand, DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../support/repo-root.js';
import { startMoto, type MotoServer } from '../support/moto.js';
import { fleetImage, inImage, needTool, run } from './fleet-images.js';

const deckhand = path.join(repoRoot(), 'bin', 'deckhand.js');
const moduleDir = path.join(repoRoot(), 'terraform', 'aws');

/** The folder holding registry.terraform.io/hashicorp/aws (DECKHAND_TF_PLUGIN_DIR, else looked for). */
async function providerMirror(): Promise<string> {
  const given = process.env.DECKHAND_TF_PLUGIN_DIR;
  const candidates = given ? [given] : ['/opt/tf-plugins', path.join(process.env.HOME ?? '/root', '.terraform.d', 'plugins'), '/usr/share/terraform/plugins', '/usr/local/share/terraform/plugins'];
  for (const dir of candidates) if (existsSync(path.join(dir, 'registry.terraform.io', 'hashicorp', 'aws'))) return dir;
  const { stdout } = await run('sh', ['-c', "find / -xdev -path '*/registry.terraform.io/hashicorp/aws/*' -name 'terraform-provider-aws_*' -print -quit 2>/dev/null || :"]);
  const found = stdout.trim();
  if (!found) throw new Error('no hashicorp/aws provider mirror: make one with terraform providers mirror DIR and set DECKHAND_TF_PLUGIN_DIR=DIR (scripts/ensure-fleet-tools.sh checks for it)');
  return found.slice(0, found.indexOf('/registry.terraform.io/'));
}

interface StateResource {
  address: string;
  type: string;
  values: Record<string, unknown>;
}
interface StateModule {
  resources?: StateResource[];
  child_modules?: StateModule[];
}
function resourcesOf(module: StateModule | undefined): StateResource[] {
  if (!module) return [];
  return [...(module.resources ?? []), ...(module.child_modules ?? []).flatMap(resourcesOf)];
}

const PROVIDER_OFFLINE = `
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true`;

const FLEET_INPUTS = `
  client_image_id           = "ami-12c6146b"
  nomad_servers             = ["10.0.0.11", "10.0.0.12:4747"]
  nomad_server_cidrs        = ["10.0.0.0/24"]
  ssh_cidrs                 = ["203.0.113.0/24"]
  vm_provider               = "aws"
  blob_store_bucket         = "ci-store"
  output_processor          = "10.0.5.5:8585"
  output_processor_secret   = "s3cr3t"
  datacenter                = "eu-west-1"
  drain_deadline_minutes    = 45
  wait_for_capacity_timeout = "0"`;

describe('terraform/aws', { timeout: 600_000 }, () => {
  let mirror = '';
  let work = '';
  let moto: MotoServer | undefined;
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_CLI_CONFIG_FILE: '', CHECKPOINT_DISABLE: '1' };
  const terraform = (dir: string, args: string[]) => run('terraform', [`-chdir=${dir}`, ...args], { env, maxBuffer: 64 * 1024 * 1024 });

  /** A root module calling terraform/aws with `inputs`, initialised from the mirror. */
  async function root(name: string, provider: string, body: string): Promise<string> {
    const dir = path.join(work, name);
    await cp(moduleDir, path.join(dir, 'fleet'), { recursive: true });
    await writeFile(path.join(dir, 'main.tf'), `provider "aws" {\n${provider}\n}\n${body}\n`);
    await terraform(dir, ['init', '-backend=false', `-plugin-dir=${mirror}`, '-input=false', '-no-color']);
    return dir;
  }

  before(async () => {
    await needTool('terraform', 'Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)');
    mirror = await providerMirror();
    work = await mkdtemp(path.join(tmpdir(), 'deckhand-fleet-tf-'));
    await writeFile(path.join(work, 'terraformrc'), '');
    env.TF_CLI_CONFIG_FILE = path.join(work, 'terraformrc');
  });
  after(async () => {
    await moto?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is terraform fmt clean and validates with the real provider', async () => {
    await run('terraform', ['fmt', '-check', '-recursive', path.join(repoRoot(), 'terraform')], { env }).catch((error: { stdout?: string }) => {
      assert.fail(`terraform fmt would change ${error.stdout?.trim()}: run terraform fmt -recursive terraform`);
    });
    const dir = path.join(work, 'module');
    await cp(moduleDir, dir, { recursive: true });
    await terraform(dir, ['init', '-backend=false', `-plugin-dir=${mirror}`, '-input=false', '-no-color']);
    const { stdout } = await terraform(dir, ['validate', '-json']);
    const result = JSON.parse(stdout) as { valid: boolean; error_count: number; diagnostics: { summary: string }[] };
    assert.equal(result.valid, true, result.diagnostics.map((d) => d.summary).join('; '));
    // a wrong input is refused (the check can fail)
    await writeFile(path.join(dir, 'broken.tf'), 'resource "aws_autoscaling_group" "x" {\n  min_sizes = 1\n}\n');
    await assert.rejects(terraform(dir, ['validate', '-no-color']), /min_sizes/);
  });

  it('plans, offline, security groups exactly as the hardening guide lists them', async () => {
    const dir = await root('plan', `  region = "eu-west-1"${PROVIDER_OFFLINE}`, `module "fleet" {
  source                             = "./fleet"
  vpc_id                             = "vpc-0123456789abcdef0"
  subnet_ids                         = ["subnet-0123456789abcdef0"]
  output_processor_security_group_id = "sg-0processor"${FLEET_INPUTS}
}`);
    await terraform(dir, ['plan', '-input=false', '-no-color', '-out=fleet.plan']);
    const { stdout } = await terraform(dir, ['show', '-json', 'fleet.plan']);
    const plan = JSON.parse(stdout) as { planned_values: { root_module: StateModule } };
    const resources = resourcesOf(plan.planned_values.root_module);
    const rules = resources.filter((r) => r.type === 'aws_security_group_rule').map((r) => r.values);
    const describe = (v: Record<string, unknown>) => `${String(v.type)} ${String(v.protocol)} ${String(v.from_port)}-${String(v.to_port)} ${v.cidr_blocks ? (v.cidr_blocks as string[]).join(',') : 'from a group'}`;
    assert.deepEqual(rules.filter((v) => v.type === 'ingress').map(describe).sort(), [
      'ingress tcp 22-22 from a group', // VMs: SSH from the clients
      'ingress tcp 2376-2376 from a group', // VMs: remote Docker's TLS engine from the clients
      'ingress tcp 4647-4647 10.0.0.0/24', // clients: Nomad RPC from the servers
      'ingress tcp 64535-65535 203.0.113.0/24', // clients: SSH into builds from engineers
      'ingress tcp 8585-8585 from a group', // output processor: from the clients
    ]);
    const processorRule = rules.find((v) => v.from_port === 8585);
    assert.equal(processorRule?.security_group_id, 'sg-0processor');
    const template = resources.find((r) => r.type === 'aws_launch_template')?.values;
    assert.equal(template?.image_id, 'ami-12c6146b');
    assert.deepEqual((template?.metadata_options as Record<string, unknown>[])[0]?.http_tokens, 'required');
    const types = resources.map((r) => r.type);
    for (const type of ['aws_autoscaling_group', 'aws_autoscaling_lifecycle_hook', 'aws_autoscaling_schedule', 'aws_iam_role', 'aws_iam_role_policy', 'aws_iam_instance_profile']) assert.ok(types.includes(type), `plans a ${type}`);
  });

  it('applies against an AWS-protocol server; the user data renders deckhand nomad client-config\'s configuration in the client image', async () => {
    moto = await startMoto();
    const endpoint = moto.endpoint;
    const dir = await root('apply', `  region = "us-east-1"${PROVIDER_OFFLINE}
  endpoints {
    ec2         = "${endpoint}"
    autoscaling = "${endpoint}"
    iam         = "${endpoint}"
    sts         = "${endpoint}"
  }`, `resource "aws_vpc" "ci" {
  cidr_block = "10.0.0.0/16"
}
resource "aws_subnet" "ci" {
  vpc_id     = aws_vpc.ci.id
  cidr_block = "10.0.1.0/24"
}
module "fleet" {
  source     = "./fleet"
  vpc_id     = aws_vpc.ci.id
  subnet_ids = [aws_subnet.ci.id]${FLEET_INPUTS}
}
output "client_security_group_id" {
  value = module.fleet.client_security_group_id
}
output "vm_security_group_id" {
  value = module.fleet.vm_security_group_id
}
output "launch_template_id" {
  value = module.fleet.launch_template_id
}`);
    const image = fleetImage('client'); // built meanwhile, unless the packer tests built it already
    await terraform(dir, ['apply', '-auto-approve', '-input=false', '-no-color']);
    const outputs = JSON.parse((await terraform(dir, ['output', '-json'])).stdout) as Record<string, { value: string }>;
    const state = JSON.parse((await terraform(dir, ['show', '-json'])).stdout) as { values: { root_module: StateModule } };
    const resources = resourcesOf(state.values.root_module);

    // what the API holds now
    const ec2 = new EC2Client({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
    try {
      const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [outputs.client_security_group_id!.value, outputs.vm_security_group_id!.value] }));
      const ingress = (id: string) =>
        (groups.SecurityGroups ?? []).find((g) => g.GroupId === id)?.IpPermissions?.map((p) => `${p.FromPort}-${p.ToPort} ${[...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.UserIdGroupPairs ?? []).map((g) => g.GroupId)].join(',')}`).sort();
      const client = outputs.client_security_group_id!.value;
      assert.deepEqual(ingress(client), ['4647-4647 10.0.0.0/24', '64535-65535 203.0.113.0/24']);
      assert.deepEqual(ingress(outputs.vm_security_group_id!.value), [`22-22 ${client}`, `2376-2376 ${client}`]);

      const versions = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: outputs.launch_template_id!.value, Versions: ['$Latest'] }));
      const data = versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
      assert.equal(data?.ImageId, 'ami-12c6146b');
      assert.equal(data?.MetadataOptions?.HttpTokens, 'required');
      assert.equal(data?.MetadataOptions?.HttpPutResponseHopLimit, 1);
      const userData = Buffer.from(data?.UserData ?? '', 'base64').toString('utf8');
      assert.match(userData, /^#!\/bin\/sh\n/);

      const group = resources.find((r) => r.type === 'aws_autoscaling_group')?.values;
      assert.equal(group?.name, 'deckhand-clients');
      const hook = resources.find((r) => r.type === 'aws_autoscaling_lifecycle_hook')?.values;
      assert.equal(hook?.lifecycle_transition, 'autoscaling:EC2_INSTANCE_TERMINATING');
      assert.equal(hook?.heartbeat_timeout, 50 * 60);
      const schedules = resources.filter((r) => r.type === 'aws_autoscaling_schedule').map((r) => `${String(r.values.recurrence)} → ${String(r.values.desired_capacity)}`).sort();
      assert.deepEqual(schedules, ['0 20 * * MON-FRI → 0', '0 7 * * MON-FRI → 1']);
      const policy = JSON.parse(String(resources.find((r) => r.type === 'aws_iam_role_policy')?.values.policy)) as { Statement: { Sid: string; Resource: string | string[] }[] };
      const sids = policy.Statement.map((s) => s.Sid).sort();
      assert.deepEqual(sids, ['CompleteOwnDrainHook', 'LaunchFromTheseResources', 'LaunchOnlyTagged', 'ListInstances', 'ListStorePrefix', 'ReadWriteStore', 'RetagDeckhandInstances', 'TagWhileLaunching', 'TerminateOnlyDeckhandInstances']);
      assert.equal(policy.Statement.find((s) => s.Sid === 'ReadWriteStore')?.Resource, 'arn:aws:s3:::ci-store/deckhand/*');

      // the user data, run in the client image (no systemd there: it renders the configuration only)
      const { stdout } = await inImage(await image, `cat >/tmp/user-data <<'DECKHAND_TEST'\n${userData}\nDECKHAND_TEST\nsh /tmp/user-data >&2 && cat /etc/nomad.d/client.hcl && echo ---- && cat /etc/deckhand/processor-secret && echo && echo ---- && cat /etc/deckhand/fleet.env`);
      const [hcl, secret, fleetEnv] = stdout.split('----\n');
      const { stdout: expected } = await run(deckhand, ['nomad', 'client-config', '--servers', '10.0.0.11,10.0.0.12:4747', '--datacenter', 'eu-west-1', '--node-class', 'deckhand', '--store', 's3://ci-store/deckhand', '--output-processor', '10.0.5.5:8585', '--output-secret-file', '/etc/deckhand/processor-secret', '--drain-deadline', '45m']);
      assert.equal(hcl, expected);
      assert.equal(secret?.trim(), 's3cr3t');
      assert.match(fleetEnv ?? '', /^DECKHAND_AUTOSCALING_GROUP=deckhand-clients$/m);
      assert.match(fleetEnv ?? '', /^DECKHAND_LIFECYCLE_HOOK=deckhand-drain$/m);
    } finally {
      ec2.destroy();
    }
  });
});
