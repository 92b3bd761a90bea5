/**
 * Project and context variables given locally: `-e KEY=VALUE`, `--env-file FILE` and contexts
 * from `$DECKHAND_HOME/contexts.yml`. All of their values are secrets for masking, as CircleCI
 * masks project and context variables.
 *
 * contexts.yml is a map of context name → map of variable → value:
 *
 *     aws:
 *       AWS_ACCESS_KEY_ID: AKIA…
 *     slack:
 *       SLACK_TOKEN: xoxb-…
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../usage-error.js';
import { deckhandHome } from '../config/orb-registry.js';
import { isMapValue, loadYaml } from '../config/source.js';
import { ConfigError } from '../config/diagnostics.js';
import { didYouMean } from '../config/suggest.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `KEY=VALUE` pairs from -e flags; a bare `KEY` takes the value from this process's environment. */
export function parseEnvFlags(pairs: string[], env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    if (!NAME.test(key)) throw new UsageError(`-e ${p}: "${key}" is not a valid environment variable name`);
    if (eq < 0) {
      const v = env[key];
      if (v === undefined) throw new UsageError(`-e ${key}: ${key} is not set in your environment; write -e ${key}=VALUE`);
      out[key] = v;
    } else out[key] = p.slice(eq + 1);
  }
  return out;
}

/** A dotenv-style file: `KEY=VALUE` lines, `#` comments, optional `export `, optional quotes. */
export function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) throw new UsageError(`--env-file ${path} does not exist`);
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

export function contextsFile(home = deckhandHome()): string {
  return join(home, 'contexts.yml');
}

/** The variables of the named contexts, later contexts winning. */
export function loadContexts(names: string[], file = contextsFile()): Record<string, string> {
  if (names.length === 0) return {};
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
