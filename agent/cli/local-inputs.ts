/**
 * What a local run takes from the developer's machine and flags, shared by `deckhand execute` and
 * `deckhand run`: project variables (`-e`, `--env-file`), the contexts file and the SSH keys folder
 * under `$DECKHAND_HOME`, the store. Values given on the command line are returned as variables
 * for the agent's environment; the assignment only names them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deckhandHome } from '../config/orb-registry.js';
import { UsageError } from '../errors.js';
import { storeUrl } from '../store/open-store.js';
import type { AwsVmSettings, MachineSettings, RuntimeSettings } from '../assignment/assignment.js';
import type { VmProviderName } from '../vm/provider.js';

/** The flags of a local run that name its inputs. */
export interface LocalInputFlags {
  pull?: RuntimeSettings['docker']['pull'];
  env: string[];
  envFile?: string;
  context: string[];
  skipCheckout?: boolean;
  checkoutKey?: string;
  isolateNetwork?: boolean;
  store?: string;
  machineProvider?: VmProviderName;
  machinePool?: string;
  machineAwsConfig?: string;
}

export interface LocalInputs {
  storeUrl: string;
  /** project variables: files, and names of variables of the agent's environment */
  project: { files: string[]; env: string[] };
  /** `-e KEY=VALUE` values, for the agent's environment */
  environment: Record<string, string>;
  contextsFile: string;
  sshKeysDir: string;
  /** how the job's executor runs: Docker's settings, and where VMs come from */
  runtime: RuntimeSettings;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function localInputs(flags: LocalInputFlags, env: Readonly<Record<string, string | undefined>>): LocalInputs {
  if (flags.checkoutKey !== undefined && !existsSync(flags.checkoutKey)) throw new UsageError(`--checkout-key ${flags.checkoutKey} does not exist`);
  if (flags.envFile !== undefined && !existsSync(flags.envFile)) throw new UsageError(`--env-file ${flags.envFile} does not exist`);
  const environment: Record<string, string> = {};
  const names: string[] = [];
  for (const pair of flags.env) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (!NAME.test(key)) throw new UsageError(`-e ${pair}: "${key}" is not a valid environment variable name`);
    // a bare `-e KEY` takes the value this process has
    if (eq < 0 && env[key] === undefined) throw new UsageError(`-e ${key}: ${key} is not set in your environment; write -e ${key}=VALUE`);
    if (eq >= 0) environment[key] = pair.slice(eq + 1);
    if (!names.includes(key)) names.push(key);
  }
  const home = deckhandHome(env);
  return {
    storeUrl: storeUrl(flags.store, env),
    project: { files: flags.envFile !== undefined ? [resolve(flags.envFile)] : [], env: names },
    environment,
    contextsFile: join(home, 'contexts.yml'),
    sshKeysDir: join(home, 'ssh-keys'),
    runtime: {
      docker: { pull: flags.pull ?? 'missing', network: flags.isolateNetwork === true ? 'isolated' : 'bridge' },
      machine: machineSettings(flags),
    },
  };
}

/** The VM provider the flags name, its pool file or AWS settings checked now, before anything starts. */
function machineSettings(flags: LocalInputFlags): MachineSettings {
  const provider = flags.machineProvider ?? 'docker';
  if (flags.machinePool !== undefined && provider !== 'static') throw new UsageError('--machine-pool only applies with --machine-provider static');
  if (flags.machineAwsConfig !== undefined && provider !== 'aws') throw new UsageError('--machine-aws-config only applies with --machine-provider aws');
  if (provider === 'static') {
    if (flags.machinePool === undefined) throw new UsageError('--machine-provider static needs --machine-pool FILE: the hosts jobs may use (docs/machine.md)');
    if (!existsSync(flags.machinePool)) throw new UsageError(`--machine-pool ${flags.machinePool} does not exist`);
    return { provider, poolFile: resolve(flags.machinePool) };
  }
  if (provider === 'aws') {
    if (flags.machineAwsConfig === undefined) throw new UsageError('--machine-provider aws needs --machine-aws-config FILE: region, subnet, security groups and AMIs (docs/machine.md)');
    return { provider, aws: readAwsSettings(flags.machineAwsConfig) };
  }
  return { provider };
}

/** The aws provider's settings file, checked with the assignment's own schema when the assignment is. */
function readAwsSettings(file: string): AwsVmSettings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--machine-aws-config ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--machine-aws-config ${file} is not JSON: ${(err as Error).message}`);
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const isText = (x: unknown): boolean => typeof x === 'string' && x !== '';
  const missing = [
    !isText(v.region) && 'region (e.g. "us-east-1")',
    !isText(v.subnetId) && 'subnetId',
    !(Array.isArray(v.securityGroupIds) && v.securityGroupIds.length > 0 && v.securityGroupIds.every(isText)) && 'securityGroupIds (a list)',
    !(typeof v.images === 'object' && v.images !== null && Object.values(v.images).length > 0 && Object.values(v.images).every(isText)) && 'images (machine image name → AMI id, "default" for machine: true)',
  ].filter((m): m is string => m !== false);
  if (missing.length > 0) throw new UsageError(`--machine-aws-config ${file} needs ${missing.join(', ')}`);
  return value as AwsVmSettings;
}
