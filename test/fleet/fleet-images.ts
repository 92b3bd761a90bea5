// The docker variants of packer/'s templates, built for real by Packer on the local engine and
// shared by the fleet tests: each image is tagged by a digest of what went into it, so a second
// test file (or a re-run with nothing changed) reuses it. Builds take a lock, since node --test
// runs test files side by side. Packer missing fails the tests (scripts/ensure-fleet-tools.sh
// installs it).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/repo-root.js';

export const run = promisify(execFile);

export const FLEET_LABEL = 'com.deckhand.test=fleet';
const REPOSITORY = 'deckhand-fleet-test';

export type FleetImage = 'client' | 'vm';

export async function needTool(tool: string, install: string): Promise<void> {
  await run(tool, ['version']).catch(() => {
    throw new Error(`${tool} is not on PATH; install it with ${install} (make test-deps does)`);
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '.stage') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else out.push(full);
  }
  return out.sort();
}

async function digestOf(image: FleetImage): Promise<string> {
  const root = repoRoot();
  const inputs = [...(await filesUnder(path.join(root, 'packer')))];
  if (image === 'vm') inputs.push(...(await filesUnder(path.join(root, 'images', 'vm'))));
  else inputs.push(path.join(root, 'dist', 'bundle', 'deckhand.cjs'), path.join(root, 'nomad-plugin', 'dist', 'deckhand'), path.join(root, 'package-lock.json'));
  const hash = createHash('sha256').update(process.version);
  for (const file of inputs) hash.update(path.relative(root, file)).update(await readFile(file));
  return hash.digest('hex').slice(0, 16);
}

async function imageExists(ref: string): Promise<boolean> {
  return run('docker', ['image', 'inspect', ref]).then(() => true, () => false);
}

/** One builder at a time across test processes: a folder made atomically, taken over when stale. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(tmpdir(), `deckhand-fleet-${name}.lock`);
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const since = await stat(lock).then((s) => s.mtimeMs, () => Date.now());
      if (Date.now() - since > 600_000) await rm(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Stages Deckhand for the client template (packer/stage.sh) into a fresh folder; remove it after. */
export async function stageDeckhand(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-fleet-stage-'));
  await run('bash', [path.join(repoRoot(), 'packer', 'stage.sh'), dir]);
  return dir;
}

/** `packer build -only=docker.NAME` of packer/NAME with the given variables; Packer's output on failure. */
export async function packerBuildDocker(image: FleetImage, vars: Record<string, string>): Promise<void> {
  const args = ['build', '-color=false', `-only=docker.${image}`, ...Object.entries(vars).map(([k, v]) => `-var=${k}=${v}`), '.'];
  await run('packer', args, { cwd: path.join(repoRoot(), 'packer', image), maxBuffer: 32 * 1024 * 1024 }).catch((error: { stdout?: string; message: string }) => {
    throw new Error(`packer ${args.join(' ')} failed: ${(error.stdout ?? error.message).split('\n').filter((l) => /error|fail/i.test(l)).slice(-8).join('\n')}`);
  });
}

/** The built image of packer/NAME's docker source (built now if this digest has none yet). */
export async function fleetImage(image: FleetImage): Promise<string> {
  const tag = `${REPOSITORY}/${image}:${await digestOf(image)}`;
  return withLock(image, async () => {
    if (await imageExists(tag)) return tag;
    const [repository, version] = tag.split(':') as [string, string];
    const vars: Record<string, string> = { docker_repository: repository, docker_tag: version };
    let stage: string | undefined;
    if (image === 'client') {
      stage = await stageDeckhand();
      vars.stage_dir = stage;
      vars.nomad_version = ''; // releases.hashicorp.com is out of reach here
    }
    try {
      await packerBuildDocker(image, vars);
    } finally {
      if (stage) await rm(stage, { recursive: true, force: true });
    }
    // earlier builds of the same image go: only the current digest is kept
    const { stdout } = await run('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', `${REPOSITORY}/${image}`]);
    for (const old of stdout.split('\n').filter((t) => t && t !== tag)) await run('docker', ['rmi', old]).catch(() => {});
    return tag;
  });
}

/** Runs a shell script in a fresh container of `image` (labelled, removed after), as root. */
export async function inImage(image: string, script: string, dockerArgs: string[] = []): Promise<{ stdout: string; stderr: string }> {
  return run('docker', ['run', '--rm', '--label', FLEET_LABEL, ...dockerArgs, image, 'sh', '-c', script], { maxBuffer: 16 * 1024 * 1024 });
}

/** One block of an HCL outline (test/fleet/hcl-outline). */
export interface HclBlock {
  type: string;
  labels: string[];
  attributes: Record<string, { value?: unknown; references: string[] }>;
  blocks: HclBlock[];
}
export interface HclOutline {
  files: string[];
  attributes: Record<string, { value?: unknown; references: string[] }>;
  blocks: HclBlock[];
  templates: Record<string, string[]>;
}

let outlineTool: Promise<string> | undefined;

/** test/fleet/hcl-outline built once per process (Go, hcl/v2 from the module proxy). */
function hclOutlineTool(): Promise<string> {
  outlineTool ??= (async () => {
    await needTool('go', 'Go (https://go.dev/doc/install)');
    const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-hcl-outline-'));
    const tool = path.join(dir, 'hcl-outline');
    await run('go', ['build', '-o', tool, '.'], { cwd: path.join(repoRoot(), 'test', 'fleet', 'hcl-outline'), env: { ...process.env, GOFLAGS: '-mod=mod' } });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return tool;
  })();
  return outlineTool;
}

/** The outline of a folder of .tf files, or of one HCL file, as HashiCorp's HCL parser reads it. */
export async function hclOutline(target: string): Promise<HclOutline> {
  return JSON.parse((await run(await hclOutlineTool(), [target])).stdout) as HclOutline;
}

/** The outline of HCL text. */
export async function hclOutlineOf(text: string): Promise<HclOutline> {
  const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-hcl-'));
  try {
    await writeFile(path.join(dir, 'config.hcl'), text);
    return await hclOutline(path.join(dir, 'config.hcl'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
