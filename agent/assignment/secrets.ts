/**
 * The assignment's secret references, read when the job starts: project variables from
 * `KEY=VALUE` files and from the agent's environment by name, contexts from a YAML map or a folder
 * of `NAME.env` files, the checkout key, the folder of SSH keys. Every value read here is a secret
 * for masking, as CircleCI masks project and context variables. A reference that cannot be read
 * is an input error naming it: nothing starts.
 *
 * A contexts file is a map of context name → map of variable → value:
 *
 *     aws:
 *       AWS_ACCESS_KEY_ID: AKIA…
 *     slack:
 *       SLACK_TOKEN: xoxb-…
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/diagnostics.js';
import { isMapValue, loadYaml } from '../config/source.js';
import { didYouMean } from '../config/suggest.js';
import { UsageError } from '../errors.js';
import type { JobAssignment, SecretRef } from './assignment.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The agent's environment, as the front end hands it to the core. */
export type AgentEnvironment = Readonly<Record<string, string | undefined>>;

export interface ResolvedSecrets {
  /** project variables (CircleCI's project settings) */
  project: Record<string, string>;
  /** the variables of the job's contexts, later contexts winning */
  contexts: Record<string, string>;
  checkoutKey?: { material: string; source: string };
  sshKeysDir?: string;
}

export function resolveSecrets(assignment: JobAssignment, env: AgentEnvironment): ResolvedSecrets {
  const { secrets, source } = assignment;
  const project: Record<string, string> = {};
  for (const file of secrets.project?.files ?? []) Object.assign(project, readEnvFile(file));
  for (const name of secrets.project?.env ?? []) project[name] = readSecret({ env: name }, env, 'project variable').value;
  const contexts = secrets.contexts ? loadContexts(secrets.contexts.names, secrets.contexts) : {};
  const resolved: ResolvedSecrets = { project, contexts };
  if (source.kind === 'git' && source.checkoutKey) {
    const key = readSecret(source.checkoutKey, env, 'checkout key');
    resolved.checkoutKey = { material: key.value, source: key.source };
  }
  if (secrets.sshKeysDir !== undefined) resolved.sshKeysDir = secrets.sshKeysDir;
  return resolved;
}

/** One secret's value, and how to name it in messages (`the file /secrets/key`, `$TOKEN`). */
export function readSecret(ref: SecretRef, env: AgentEnvironment, what: string): { value: string; source: string } {
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined) throw new UsageError(`the ${what} is read from $${ref.env}, which is not set in the agent's environment; set it, or change the assignment's reference`);
    return { value, source: `$${ref.env}` };
  }
  try {
    return { value: readFileSync(ref.file, 'utf8'), source: ref.file };
  } catch (err) {
    throw new UsageError(`the ${what} is read from ${ref.file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path and its permissions`);
  }
}

/** A dotenv-style file: `KEY=VALUE` lines, `#` comments, optional `export `, optional quotes. */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) throw new UsageError(`project variables file ${path} does not exist`);
  const out: Record<string, string> = {};
  readFileSync(path, 'utf8').split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new UsageError(`${path}:${i + 1}:1: expected KEY=VALUE, got "${line.slice(0, 40)}"`);
    let value = m[2];
    if (/^"(.*)"$/.test(value)) value = value.slice(1, -1).replace(/\\n/g, '\n').replace(/\\"/g, '"');
    else if (/^'(.*)'$/.test(value)) value = value.slice(1, -1);
    out[m[1]] = value;
  });
  return out;
}

/** The variables of the named contexts, later contexts winning: from a YAML map (`file`) or `NAME.env` files (`dir`). */
export function loadContexts(names: string[], from: { file?: string; dir?: string }): Record<string, string> {
  if (names.length === 0) return {};
  if (from.dir !== undefined) return contextsFromDir(names, from.dir);
  const file = from.file ?? '';
  if (!existsSync(file)) {
    throw new UsageError(`the job uses context ${names.map((n) => `"${n}"`).join(', ')}, but ${file} does not exist; create it as a map of context name to variables (see docs/execute.md)`);
  }
  let doc;
  try {
    doc = loadYaml(readFileSync(file, 'utf8'), { file });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  if (!isMapValue(doc)) throw new UsageError(`${file}:1:1: contexts must be a map of context name to variables`);
  const out: Record<string, string> = {};
  for (const name of names) {
    const ctx = doc[name];
    if (!isMapValue(ctx)) throw new UsageError(`context "${name}" is not defined in ${file}${didYouMean(name, Object.keys(doc))}`);
    for (const [k, v] of Object.entries(ctx)) {
      if (!NAME.test(k)) throw new UsageError(`${file}: "${k}" in context "${name}" is not a valid environment variable name`);
      out[k] = v === null ? '' : String(v);
    }
  }
  return out;
}

function contextsFromDir(names: string[], dir: string): Record<string, string> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`the contexts folder ${dir} does not exist; it holds one NAME.env file per context`);
  const out: Record<string, string> = {};
  for (const name of names) {
    const file = join(dir, `${name}.env`);
    if (!/^[A-Za-z0-9._-]+$/.test(name) || !existsSync(file)) throw new UsageError(`context "${name}" is not in ${dir}: expected the file ${file}`);
    Object.assign(out, readEnvFile(file));
  }
  return out;
}
