/**
 * terraform/gcp, where no google provider is at hand for terraform validate: `terraform fmt`, then
 * HashiCorp's HCL parser (test/fleet/hcl-outline, built with Go from the module proxy's hcl/v2)
 * reads every file, and the outline is checked: every variable, local and resource referenced is
 * declared, the firewall rules are exactly CircleCI Server's hardening list, the managed instance
 * group is autoscaled with a working-hours schedule. The startup script is rendered by Terraform's
 * own templatefile() and run in the packer-built client image, where it renders what `deckhand
 * nomad client-config` renders.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot } from '../support/repo-root.js';
import { fleetImage, hclOutline, inImage, needTool, run, type HclBlock } from './fleet-images.js';

const deckhand = path.join(repoRoot(), 'bin', 'deckhand.js');
const moduleDir = path.join(repoRoot(), 'terraform', 'gcp');

function allBlocks(blocks: HclBlock[]): HclBlock[] {
  return blocks.flatMap((b) => [b, ...allBlocks(b.blocks)]);
}
/** What a block's expressions read (a variable's `type` is a type, not a reference). */
function allReferences(block: HclBlock): string[] {
  const attributes = Object.entries(block.attributes).filter(([name]) => !(block.type === 'variable' && name === 'type'));
  return [...attributes.flatMap(([, a]) => a.references), ...block.blocks.flatMap(allReferences)];
}

describe('terraform/gcp', { timeout: 600_000 }, () => {
  let work = '';
  const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: '' };

  before(async () => {
    await needTool('terraform', 'Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)');
    work = await mkdtemp(path.join(tmpdir(), 'deckhand-fleet-gcp-'));
    env.TF_CLI_CONFIG_FILE = path.join(work, 'terraformrc');
    await writeFile(env.TF_CLI_CONFIG_FILE, '');
  });
  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('parses, and references only what it declares', async () => {
    await run('terraform', ['fmt', '-check', moduleDir], { env });
    const { files, blocks, templates } = await hclOutline(moduleDir);
    assert.deepEqual(files, ['firewall.tf', 'main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']);
    const variables = new Set(blocks.filter((b) => b.type === 'variable').map((b) => `var.${b.labels[0]}`));
    const locals = new Set(blocks.filter((b) => b.type === 'locals').flatMap((b) => Object.keys(b.attributes).map((k) => `local.${k}`)));
    const resources = new Set(blocks.filter((b) => b.type === 'resource').map((b) => `${b.labels[0]}.${b.labels[1]}`));
    const used = new Set(blocks.flatMap(allReferences));
    for (const ref of used) {
      if (ref.startsWith('var.')) assert.ok(variables.has(ref), `${ref} is declared`);
      else if (ref.startsWith('local.')) assert.ok(locals.has(ref), `${ref} is declared`);
      else if (ref.startsWith('google_')) assert.ok(resources.has(ref), `${ref} is declared`);
      else assert.ok(['path.module', 'scaling_schedules.value', 'count.index', 'each.key', 'each.value'].includes(ref), `${ref} is something Terraform knows`);
    }
    for (const v of variables) if (v !== 'var.name') assert.ok(used.has(v), `${v} is used`);
    const providers = allBlocks(blocks).find((b) => b.type === 'required_providers');
    assert.equal((providers?.attributes.google?.value as { source?: string } | undefined)?.source, 'hashicorp/google');
    assert.ok((templates['startup-script.sh.tftpl'] ?? []).includes('servers'));

    // what the parser refuses fails the check
    const broken = path.join(work, 'broken');
    await run('mkdir', ['-p', broken]);
    await writeFile(path.join(broken, 'main.tf'), 'resource "google_compute_firewall" "x" {\n  name = \n}\n');
    await assert.rejects(hclOutline(broken), /hcl-outline: .*main\.tf/);
  });

  it('opens exactly the hardening guide\'s ports, and scales a managed instance group by schedule', async () => {
    const { blocks } = await hclOutline(moduleDir);
    const firewalls = blocks.filter((b) => b.type === 'resource' && b.labels[0] === 'google_compute_firewall');
    const rules = firewalls.map((f) => {
      const allow = f.blocks.filter((b) => b.type === 'allow');
      assert.equal(f.blocks.length, allow.length, `${f.labels[1]} only allows`);
      assert.equal(f.attributes.direction?.value, 'INGRESS');
      const from = f.attributes.source_ranges?.references.join(',') ?? `tags ${f.attributes.source_tags?.references.join(',')}`;
      const to = f.attributes.target_tags?.references.join(',');
      return `${allow.map((a) => `${String(a.attributes.protocol?.value)} ${(a.attributes.ports?.value as string[]).join(',')}`).join(' ')} from ${from} to ${to}`;
    });
    assert.deepEqual(rules.sort(), [
      'tcp 22,2376 from tags local.client_tag to var.vm_tag',
      'tcp 4647 from var.nomad_server_cidrs to local.client_tag',
      'tcp 64535-65535 from var.ssh_cidrs to local.client_tag',
      'tcp 8585 from tags local.client_tag to var.output_processor_tag',
    ]);

    const resource = (type: string) => blocks.find((b) => b.type === 'resource' && b.labels[0] === type);
    const template = resource('google_compute_instance_template');
    assert.deepEqual(template?.attributes.tags?.references, ['local.client_tag']);
    assert.ok(template?.attributes.metadata?.references.includes('path.module'), 'the startup script comes from the template file');
    assert.ok(resource('google_compute_region_instance_group_manager'));
    const policy = resource('google_compute_region_autoscaler')?.blocks.find((b) => b.type === 'autoscaling_policy');
    const schedule = policy?.blocks.find((b) => b.type === 'dynamic' && b.labels[0] === 'scaling_schedules');
    assert.ok(schedule, 'a working-hours scaling schedule');
    assert.deepEqual(policy?.attributes.min_replicas?.references, ['var.min_size']);
  });

  it('its startup script, rendered by templatefile(), renders deckhand nomad client-config\'s configuration in the client image', async () => {
    const image = fleetImage('client');
    const dir = path.join(work, 'render');
    await run('mkdir', ['-p', dir]);
    await writeFile(path.join(dir, 'main.tf'), `output "script" {
  value = templatefile("${path.join(moduleDir, 'startup-script.sh.tftpl')}", {
    servers = "10.1.0.5,10.1.0.6", datacenter = "europe-west1", node_class = "deckhand", store = "/var/lib/deckhand/store",
    output_processor = "10.1.9.9:8585", output_processor_secret = "gcp-secret", drain_deadline = "30m",
    tls_ca = "", tls_cert = "", tls_key = ""
  })
}
`);
    await run('terraform', [`-chdir=${dir}`, 'init', '-backend=false', '-input=false'], { env });
    await run('terraform', [`-chdir=${dir}`, 'apply', '-auto-approve', '-input=false'], { env });
    const script = (await run('terraform', [`-chdir=${dir}`, 'output', '-raw', 'script'], { env })).stdout;
    const { stdout } = await inImage(await image, `cat >/tmp/startup <<'DECKHAND_TEST'\n${script}\nDECKHAND_TEST\nsh /tmp/startup >&2 && cat /etc/nomad.d/client.hcl && echo ---- && cat /etc/deckhand/processor-secret`);
    const [hcl, secret] = stdout.split('----\n');
    const { stdout: expected } = await run(deckhand, ['nomad', 'client-config', '--servers', '10.1.0.5,10.1.0.6', '--datacenter', 'europe-west1', '--node-class', 'deckhand', '--store', '/var/lib/deckhand/store', '--output-processor', '10.1.9.9:8585', '--output-secret-file', '/etc/deckhand/processor-secret', '--drain-deadline', '30m']);
    assert.equal(hcl, expected);
    assert.equal(secret, 'gcp-secret');
  });
});
