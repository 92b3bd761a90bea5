/**
 * Structural check of a config as the user wrote it (before 2.1 processing), against
 * config.schema.json. Each ajv error becomes one positioned, one-line Diagnostic: unknown keys
 * point at the key, wrong values at the value, and union failures are collapsed to one message.
 *
 * The schema is read and compiled on the first call, not at import, so commands that never
 * validate a config (and the agent itself) do not pay for it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { packagePath } from '../../package-root.js';
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import { sortUnique, type Diagnostic, type SourcePos } from '../diagnostics.js';
import { describeType, isMapValue, keyPos, posOf, valuePos, type Value } from '../source.js';
import { closest, didYouMean } from '../suggest.js';

/** Schema annotations this project uses to word messages (see the schema's $comment). */
const ANNOTATIONS = [
  'x-expect',
  'x-message',
  'x-message-type',
  'x-message-minItems',
  'x-message-minProperties',
  'x-message-maxProperties',
  'x-unknown',
];

type Segment = string | number;

interface SchemaNode {
  properties?: Record<string, unknown>;
  type?: string | string[];
  [annotation: string]: unknown;
}

let compiled: ValidateFunction | undefined;

/** The generated module `make build` writes beside the compiled validate.js (agent/generate-validators.ts). */
export const GENERATED_VALIDATOR = packagePath('dist', 'agent', 'config', 'schema', 'config-validator.generated.cjs');

/** An ajv set up for the config schema; also used at build time to generate standalone code. */
export function configSchemaAjv(options: { standalone?: boolean } = {}): { ajv: Ajv; schema: object } {
  const schema = JSON.parse(readFileSync(packagePath('agent', 'config', 'schema', 'config.schema.json'), 'utf8')) as object;
  // loaded here, not at import: with the generated validator a job never needs ajv itself
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false, code: { source: options.standalone === true } });
  ajv.addVocabulary(ANNOTATIONS);
  return { ajv, schema };
}

function validator(): ValidateFunction {
  if (compiled) return compiled;
  try {
    // compiling the schema costs ~250 ms; the build generates the validator ahead of time
    const mod = createRequire(import.meta.url)(GENERATED_VALIDATOR) as { default?: ValidateFunction } & ValidateFunction;
    compiled = mod.default ?? mod;
  } catch {
    const { ajv, schema } = configSchemaAjv();
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** Built-in steps a user command of the same name may replace (then the built-in rules don't apply). */
const BUILTIN_STEPS = [
  'run', 'deploy', 'checkout', 'setup_remote_docker', 'save_cache', 'restore_cache', 'store_artifacts',
  'store_test_results', 'persist_to_workspace', 'attach_workspace', 'add_ssh_keys', 'install_signing_bundle',
];
const STEP_LISTS = new Set(['steps', 'pre-steps', 'post-steps']);

export function validateConfigShape(root: Value, file: string): Diagnostic[] {
  const validate = validator();
  const diags: Diagnostic[] = [];
  if (!validate(root)) {
    const shadowed = shadowedBuiltins(root);
    const errors = dropUnderMisshapenEntries(collapseUnions((validate.errors ?? []).filter((e) => e.keyword !== 'if')));
    for (const e of errors) {
      const segs = parsePointer(e.instancePath);
      const unknown = unknownKeyVerdict(e);
      if (unknown === 'pass') continue;
      if (shadowed.size > 0 && insideShadowedStep(root, segs, shadowed)) continue;
      diags.push(unknown === 'warn' ? ignoredKey(root, e, segs, file) : toDiagnostic(root, e, segs, file));
    }
  }
  return sortUnique(diags, file);
}

/**
 * ajv reports every failed branch of an anyOf/oneOf just before the combinator's own error. All
 * unions in our schema sit on leaf values, so those branch errors are the contiguous run of errors
 * at (or under) the same instance just before it; drop them and keep the combinator, which is
 * worded from its `x-expect`.
 */
function collapseUnions(errors: ErrorObject[]): ErrorObject[] {
  const out: ErrorObject[] = [];
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      while (out.length > 0 && within(out[out.length - 1].instancePath, e.instancePath)) out.pop();
    }
    out.push(e);
  }
  return out;
}

/**
 * Maps where CircleCI accepts keys it does not know are marked `x-unknown` in the schema:
 * - `near-miss` (the top level, where configs keep YAML anchors; built-in steps): only a near miss
 *   of a known key is reported, as an error — almost surely a typo that would drop the setting;
 * - `warn` (a workflow, a job's filters, a matrix: open in CircleCI's published schema): every
 *   unknown key is a warning, with "did you mean" for a near miss;
 * - `ignore` (run steps, when/unless steps): passed here; the compiler warns about them, in orbs too.
 * Any other unknown key is an error.
 */
function unknownKeyVerdict(e: ErrorObject): 'error' | 'warn' | 'pass' {
  if (e.keyword !== 'additionalProperties') return 'error';
  const schema = (e.parentSchema ?? {}) as SchemaNode;
  const mode = schema['x-unknown'];
  if (mode === 'warn') return 'warn';
  if (mode === 'ignore') return 'pass';
  if (mode !== 'near-miss') return 'error';
  const key = String((e.params as Record<string, unknown>).additionalProperty);
  return closest(key, Object.keys(schema.properties ?? {})) === undefined ? 'pass' : 'error';
}

/**
 * A step or workflow job entry with several keys is almost always mis-indented arguments; once that
 * is reported, the errors about its stray keys are noise.
 */
function dropUnderMisshapenEntries(errors: ErrorObject[]): ErrorObject[] {
  const misshapen = errors.filter((e) => e.keyword === 'maxProperties').map((e) => e.instancePath);
  if (misshapen.length === 0) return errors;
  return errors.filter((e) => !misshapen.some((p) => e.instancePath !== p && within(e.instancePath, p)));
}

function within(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(ancestor + '/');
}

function parsePointer(pointer: string): Segment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

function at(root: Value, segs: readonly Segment[]): Value | undefined {
  let cur: Value | undefined = root;
  for (const s of segs) {
    if (Array.isArray(cur) && typeof s === 'number') cur = cur[s];
    else if (isMapValue(cur)) cur = cur[String(s)];
    else return undefined;
  }
  return cur;
}

function start(file: string): SourcePos {
  return { file, line: 1, col: 1 };
}

/** Where a value is written (for wrong values). */
function valueAt(root: Value, segs: readonly Segment[], file: string): SourcePos {
  if (segs.length === 0) return posOf(root) ?? start(file);
  const parent = at(root, segs.slice(0, -1));
  return valuePos(parent, segs[segs.length - 1]) ?? valueAt(root, segs.slice(0, -1), file);
}

/** Where a container is introduced: its key in the parent map, or its item in a list. */
function ownerAt(root: Value, segs: readonly Segment[], file: string): SourcePos {
  if (segs.length === 0) return posOf(root) ?? start(file);
  const parent = at(root, segs.slice(0, -1));
  const last = segs[segs.length - 1];
  const pos = Array.isArray(parent) ? valuePos(parent, last) : keyPos(parent, String(last));
  return pos ?? ownerAt(root, segs.slice(0, -1), file);
}

/** A key CircleCI accepts and ignores: a warning at the key. */
function ignoredKey(root: Value, e: ErrorObject, segs: Segment[], file: string): Diagnostic {
  const schema = (e.parentSchema ?? {}) as SchemaNode;
  const key = String((e.params as Record<string, unknown>).additionalProperty);
  const value = at(root, segs);
  return {
    pos: keyPos(value, key) ?? ownerAt(root, segs, file),
    message: `"${key}" in ${segs.length === 0 ? 'the top level' : place(segs)} is ignored (CircleCI ignores it too)${didYouMean(key, Object.keys(schema.properties ?? {}))}`,
    severity: 'warning',
  };
}

function toDiagnostic(root: Value, e: ErrorObject, segs: Segment[], file: string): Diagnostic {
  const schema = (e.parentSchema ?? {}) as SchemaNode;
  const value = at(root, segs);
  const custom = (schema[`x-message-${e.keyword}`] ?? (e.keyword === 'additionalProperties' ? undefined : schema['x-message'])) as string | undefined;
  const expect = schema['x-expect'] as string | undefined;
  const field = fieldName(segs);
  const params = e.params as Record<string, unknown>;

  if (e.keyword === 'additionalProperties' && custom === undefined) {
    const key = String(params.additionalProperty);
    const known = Object.keys(schema.properties ?? {});
    return {
      pos: keyPos(value, key) ?? ownerAt(root, segs, file),
      message: `unknown key "${key}" ${segs.length === 0 ? 'at the top level' : `in ${place(segs)}`}${didYouMean(key, known)}`,
    };
  }
  if (e.keyword === 'enum' && typeof value === 'string') {
    const suggestion = didYouMean(value, (params.allowedValues as unknown[]).map(String));
    const base = toDiagnostic(root, { ...e, keyword: 'enum-plain' }, segs, file);
    return { pos: base.pos, message: base.message + suggestion };
  }
  if (custom !== undefined) {
    const objectLevel = ['required', 'minProperties', 'maxProperties', 'not', 'dependencies'].includes(e.keyword) && isMapValue(value);
    return { pos: objectLevel ? ownerAt(root, segs, file) : valueAt(root, segs, file), message: fill(custom, segs, value) };
  }
  switch (e.keyword) {
    case 'required':
      return { pos: ownerAt(root, segs, file), message: `${place(segs)} requires "${String(params.missingProperty)}"` };
    case 'anyOf':
    case 'oneOf':
    case 'type':
    case 'pattern':
      return { pos: valueAt(root, segs, file), message: `${subject(segs)} must be ${expect ?? expectedFromType(schema.type)}, got ${got(value)}` };
    case 'enum-plain':
    case 'enum':
    case 'const': {
      const allowed = (e.keyword !== 'const' ? (params.allowedValues as unknown[]) : [params.allowedValue]).map((v) => String(v));
      return { pos: valueAt(root, segs, file), message: `${field} must be ${allowed.length === 1 ? allowed[0] : `one of ${allowed.join(', ')}`}, got ${got(value)}` };
    }
    case 'minimum':
    case 'maximum':
      return { pos: valueAt(root, segs, file), message: `${field} must be ${e.keyword === 'minimum' ? 'at least' : 'at most'} ${String(params.limit)}, got ${got(value)}` };
    case 'minItems':
      return { pos: valueAt(root, segs, file), message: `${field} must list at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}` };
    case 'minLength':
      return { pos: valueAt(root, segs, file), message: `${field} must not be empty` };
    case 'minProperties':
    case 'maxProperties':
      return { pos: ownerAt(root, segs, file), message: `${place(segs)} must have ${e.keyword === 'minProperties' ? 'at least' : 'at most'} ${String(params.limit)} key(s)` };
    case 'not':
      return { pos: ownerAt(root, segs, file), message: `${place(segs)} is not allowed here` };
    default:
      return { pos: valueAt(root, segs, file), message: `${field}: ${e.message ?? 'is invalid'}` };
  }
}

/** Fills {place} {key} {value} {got} {keys} {first} in a schema's message template. */
function fill(template: string, segs: readonly Segment[], value: Value | undefined): string {
  const keys = isMapValue(value) ? Object.keys(value) : [];
  return template.replace(/\{(place|key|value|got|keys|first)\}/g, (_m, name: string) => {
    switch (name) {
      case 'place':
        return place(segs);
      case 'key':
        return segs.length > 0 ? String(segs[segs.length - 1]) : '';
      case 'value':
        return typeof value === 'string' ? value : got(value);
      case 'got':
        return got(value);
      case 'keys':
        return keys.map((k) => `"${k}"`).join(', ');
      default:
        return keys[0] ?? '';
    }
  });
}

function got(value: Value | undefined): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return describeType(value);
}

function expectedFromType(type: string | string[] | undefined): string {
  const names: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    integer: 'an integer',
    boolean: 'true or false',
    object: 'a map',
    array: 'a list',
    null: 'empty',
  };
  const list = (Array.isArray(type) ? type : type ? [type] : []).filter((t) => t !== 'null' || !Array.isArray(type));
  if (list.length === 0) return 'something else';
  const words = list.map((t) => names[t] ?? t);
  return words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/** What a wrong value is called: a named thing (`job "a"`, `step 2 of job "a"`) or its field name. */
function subject(segs: readonly Segment[]): string {
  const p = place(segs);
  return p.startsWith('"') || p === 'the top level' ? fieldName(segs) : p;
}

/** `"parallelism"`, or `item 2 of "paths"` for list items. */
function fieldName(segs: readonly Segment[]): string {
  if (segs.length === 0) return 'the config';
  const last = segs[segs.length - 1];
  if (typeof last === 'number') {
    const parent = segs.length > 1 ? segs[segs.length - 2] : undefined;
    if (parent !== undefined && STEP_LISTS.has(String(parent))) return `step ${last + 1}`;
    return parent === undefined ? `item ${last + 1}` : `item ${last + 1} of "${String(parent)}"`;
  }
  return `"${last}"`;
}

/**
 * Names the thing at a path in the user's words: `job "build"`, `step "save_cache"`,
 * `docker image 1 of job "build"`, `"filters" of workflow job "deploy"`.
 */
type Scope = 'top' | 'job' | 'command' | 'executor' | 'workflow' | 'wfjob' | 'other';

export function place(segs: readonly Segment[]): string {
  let entity = 'the top level';
  let trail: string[] = [];
  let scope = 'top' as Scope;
  const set = (d: string, s: Scope): void => {
    entity = d;
    trail = [];
    scope = s;
  };
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const next = segs[i + 1];
    const name = next === undefined ? '' : String(next);
    if (scope === 'top' && trail.length === 0 && next !== undefined) {
      if (s === 'jobs') { set(`job "${name}"`, 'job'); i++; continue; }
      if (s === 'commands') { set(`command "${name}"`, 'command'); i++; continue; }
      if (s === 'executors') { set(`executor "${name}"`, 'executor'); i++; continue; }
      if (s === 'parameters') { set(`pipeline parameter "${name}"`, 'other'); i++; continue; }
      if (s === 'workflows') { set(`workflow "${name}"`, 'workflow'); i++; continue; }
      if (s === 'job-groups') { set(`job group "${name}"`, 'workflow'); i++; continue; }
      if (s === 'orbs') { set(`orb "${name}"`, 'top'); i++; continue; }
    }
    if ((scope === 'job' || scope === 'command' || scope === 'executor') && trail.length === 0 && s === 'parameters' && next !== undefined) {
      set(`parameter "${name}" of ${entity}`, 'other');
      i++;
      continue;
    }
    if (STEP_LISTS.has(String(s)) && typeof next === 'number' && scope !== 'top') {
      const step = segs[i + 2];
      if (step !== undefined) { set(`step "${String(step)}"`, 'other'); i += 2; }
      else { set(`step ${next + 1} of ${describeWithTrail(entity, trail)}`, 'other'); i++; }
      continue;
    }
    if (s === 'docker' && typeof next === 'number') {
      set(`docker image ${next + 1} of ${entity}`, 'other');
      i++;
      continue;
    }
    if (scope === 'workflow' && trail.length === 0 && s === 'jobs' && typeof next === 'number') {
      const job = segs[i + 2];
      if (job !== undefined) { set(`workflow job "${String(job)}"`, 'wfjob'); i += 2; }
      else { set(`job entry ${next + 1} of ${entity}`, 'other'); i++; }
      continue;
    }
    if (s === 'requires' && typeof next === 'number') {
      set(`"requires" entry ${next + 1} of ${entity}`, 'other');
      i++;
      continue;
    }
    trail.push(typeof s === 'number' ? `[${s + 1}]` : s);
  }
  return describeWithTrail(entity, trail);
}

function describeWithTrail(entity: string, trail: readonly string[]): string {
  if (trail.length === 0) return entity;
  const path = trail.join('.').replace(/\.\[/g, '[');
  return entity === 'the top level' ? `"${path}"` : `"${path}" of ${entity}`;
}

/** Built-in step names the config redefines as its own commands. */
function shadowedBuiltins(root: Value): Set<string> {
  const out = new Set<string>();
  const commands = isMapValue(root) ? root.commands : undefined;
  if (isMapValue(commands)) for (const name of Object.keys(commands)) if (BUILTIN_STEPS.includes(name)) out.add(name);
  return out;
}

function insideShadowedStep(root: Value, segs: readonly Segment[], shadowed: ReadonlySet<string>): boolean {
  for (let i = 0; i + 1 < segs.length; i++) {
    if (!STEP_LISTS.has(String(segs[i])) || typeof segs[i + 1] !== 'number') continue;
    const step = at(root, segs.slice(0, i + 2));
    const name = typeof step === 'string' ? step : isMapValue(step) ? Object.keys(step)[0] : undefined;
    if (name !== undefined && shadowed.has(name)) return true;
  }
  return false;
}
