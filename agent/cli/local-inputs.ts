/**
 * What a local run takes from the developer's machine and flags, shared by `deckhand execute` and
 * `deckhand run`: project variables (`-e`, `--env-file`), the contexts file and the SSH keys folder
 * under `$DECKHAND_HOME`, the store. Values given on the command line are returned as variables
 * for the agent's environment; the assignment only names them.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deckhandHome } from '../config/orb-registry.js';
import { UsageError } from '../errors.js';
import { storeUrl } from '../store/open-store.js';

/** The flags of a local run that name its inputs. */
export interface LocalInputFlags {
  env: string[];
  envFile?: string;
  context: string[];
  skipCheckout?: boolean;
  checkoutKey?: string;
  isolateNetwork?: boolean;
  store?: string;
}

export interface LocalInputs {
  storeUrl: string;
  /** project variables: files, and names of variables of the agent's environment */
  project: { files: string[]; env: string[] };
  /** `-e KEY=VALUE` values, for the agent's environment */
  environment: Record<string, string>;
  contextsFile: string;
  sshKeysDir: string;
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
  };
}
