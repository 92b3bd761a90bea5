/**
 * The fleet's tools, timed: `packer build` of packer/client's docker source against its floor, the
 * least the engine can do for the same image: one container of the same local base with the staged
 * files mounted, the same provisioning scripts run in it, one `docker commit`. Also a `docker
 * build` (legacy builder, no cache) of the equivalent Dockerfile, whose COPY layers keep the staged
 * files in the image. All three alternate in the same run, so that they see the same load. Then
 * `terraform validate` and an offline `terraform plan` of terraform/aws with the provider from its
 * local mirror. BENCH_RUNS sets the build count (default 3); DECKHAND_TF_PLUGIN_DIR the mirror.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { middle, repo } from './support.js';

const run = promisify(execFile);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const label = `com.deckhand.bench=fleet-${process.pid}`;
const work = await mkdtemp(path.join(tmpdir(), 'deckhand-bench-fleet-'));
const packerTag = `deckhand-bench/fleet-packer:${process.pid}`;
const dockerTag = `deckhand-bench/fleet-docker:${process.pid}`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

try {
  const stage = path.join(work, 'context', 'stage');
  const stageMs = await timed(() => run('bash', [path.join(repo, 'packer', 'stage.sh'), stage]));

  // the floor's build context: the same files the template uploads, the same scripts
  const context = path.join(work, 'context');
  await cp(path.join(repo, 'packer', 'files', 'client'), path.join(context, 'files'), { recursive: true });
  for (const script of ['enable-unit.sh', 'install-deckhand.sh', 'client.sh']) await cp(path.join(repo, 'packer', 'scripts', script), path.join(context, script));
  await writeFile(path.join(context, 'Dockerfile'), [
    'FROM deckhand-test/debian:bookworm',
    'COPY stage /tmp/deckhand-stage',
    'COPY files /tmp/deckhand-files',
    'COPY enable-unit.sh /tmp/deckhand-enable-unit.sh',
    'COPY install-deckhand.sh client.sh /tmp/',
    'RUN sh /tmp/install-deckhand.sh && NOMAD_VERSION= sh /tmp/client.sh && rm /tmp/install-deckhand.sh /tmp/client.sh',
    '',
  ].join('\n'));

  const packerTimes: number[] = [];
  const dockerTimes: number[] = [];
  const floorTimes: number[] = [];
  const floorTag = `deckhand-bench/fleet-floor:${process.pid}`;
  const floor = async () => {
    const name = `deckhand-bench-fleet-${process.pid}`;
    await run('docker', ['run', '--name', name, '--label', label, '-v', `${context}:/ctx:ro`, '--entrypoint', 'sh', 'deckhand-test/debian:bookworm', '-c',
      'cp -a /ctx/stage /tmp/deckhand-stage && cp -a /ctx/files /tmp/deckhand-files && cp /ctx/enable-unit.sh /tmp/deckhand-enable-unit.sh && sh /ctx/install-deckhand.sh && NOMAD_VERSION= sh /ctx/client.sh'], { maxBuffer: 64 * 1024 * 1024 });
    try {
      await run('docker', ['commit', name, floorTag]);
    } finally {
      await run('docker', ['rm', '-f', name]);
    }
  };
  const [repository, tag] = packerTag.split(':') as [string, string];
  // each run's images are removed before the next, so that none is left untagged behind
  const removeImages = () => run('docker', ['rmi', '-f', packerTag, dockerTag, floorTag]).catch(() => {});
  for (let i = 0; i < runs; i++) {
    packerTimes.push(await timed(() => run('packer', ['build', '-color=false', '-only=docker.client', `-var=stage_dir=${stage}`, '-var=nomad_version=', `-var=docker_repository=${repository}`, `-var=docker_tag=${tag}`, '.'], { cwd: path.join(repo, 'packer', 'client'), maxBuffer: 64 * 1024 * 1024 })));
    floorTimes.push(await timed(floor));
    dockerTimes.push(await timed(() => run('docker', ['build', '-q', '--no-cache', '--label', label, '-t', dockerTag, context], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, maxBuffer: 64 * 1024 * 1024 })));
    if (i < runs - 1) await removeImages();
  }

  // terraform/aws: validate and an offline plan (no endpoint is called)
  const mirror = process.env.DECKHAND_TF_PLUGIN_DIR ?? '/opt/tf-plugins';
  const tf = path.join(work, 'tf');
  await cp(path.join(repo, 'terraform', 'aws'), path.join(tf, 'fleet'), { recursive: true });
  await writeFile(path.join(tf, 'main.tf'), `provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "bench"
  secret_key                  = "bench"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
module "fleet" {
  source             = "./fleet"
  vpc_id             = "vpc-0123456789abcdef0"
  subnet_ids         = ["subnet-0123456789abcdef0"]
  client_image_id    = "ami-0123456789abcdef0"
  nomad_servers      = ["10.0.0.11"]
  nomad_server_cidrs = ["10.0.0.0/24"]
  ssh_cidrs          = ["203.0.113.0/24"]
  vm_provider        = "aws"
  blob_store_bucket  = "ci-store"
}
`);
  const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: path.join(work, 'terraformrc') };
  await writeFile(env.TF_CLI_CONFIG_FILE, '');
  const terraform = (...args: string[]) => run('terraform', [`-chdir=${tf}`, ...args], { env, maxBuffer: 64 * 1024 * 1024 });
  const initMs = await timed(() => terraform('init', '-backend=false', `-plugin-dir=${mirror}`, '-input=false'));
  const validate: number[] = [];
  const plan: number[] = [];
  for (let i = 0; i < 5; i++) {
    validate.push(await timed(() => terraform('validate')));
    plan.push(await timed(() => terraform('plan', '-input=false', '-refresh=false', '-out=fleet.plan')));
  }

  const { stdout: size } = await run('docker', ['image', 'inspect', '-f', '{{.Size}}', packerTag]);
  const p = middle(packerTimes);
  const d = middle(dockerTimes);
  const f = middle(floorTimes);
  console.log(`fleet: stage (packer/stage.sh)                 ${(stageMs / 1000).toFixed(1)} s`);
  console.log(`fleet: packer build docker.client, median of ${runs}  ${(p / 1000).toFixed(1)} s  (runs ${packerTimes.map((t) => (t / 1000).toFixed(1)).join(', ')})`);
  console.log(`fleet: floor, docker run + commit, median      ${(f / 1000).toFixed(1)} s  (runs ${floorTimes.map((t) => (t / 1000).toFixed(1)).join(', ')})`);
  console.log(`fleet: packer over the floor                    ${((p - f) / 1000).toFixed(1)} s (${((p / f - 1) * 100).toFixed(0)} %)`);
  console.log(`fleet: docker build of the same, median         ${(d / 1000).toFixed(1)} s  (runs ${dockerTimes.map((t) => (t / 1000).toFixed(1)).join(', ')})`);
  console.log(`fleet: client image                             ${(Number(size) / 1e6).toFixed(0)} MB`);
  console.log(`fleet: terraform init (local mirror)            ${(initMs / 1000).toFixed(1)} s`);
  console.log(`fleet: terraform validate, median of 5          ${(middle(validate) / 1000).toFixed(1)} s`);
  console.log(`fleet: terraform plan (offline), median of 5    ${(middle(plan) / 1000).toFixed(1)} s`);
} finally {
  await run('docker', ['rmi', '-f', packerTag, dockerTag, `deckhand-bench/fleet-floor:${process.pid}`]).catch(() => {});
  await run('docker', ['image', 'prune', '-f', '--filter', `label=${label}`]).catch(() => {});
  await rm(work, { recursive: true, force: true });
}
