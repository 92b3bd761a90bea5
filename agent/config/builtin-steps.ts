/**
 * CircleCI's built-in steps: their keys, and their canonical (processed) form. A built-in step
 * in canonical form is `{ <type>: { …args } }` with every shorthand expanded; `deploy` is `run`.
 */
import { configError, configWarning, type SourcePos, type WarningSink } from './diagnostics.js';
import { copyPos, describeType, isMapValue, keyPos, valuePos, type Value, type ValueMap } from './source.js';
import { closest, didYouMean } from './suggest.js';

const RUN_KEYS = ['command', 'name', 'shell', 'environment', 'background', 'working_directory', 'no_output_timeout', 'when', 'max_auto_reruns', 'auto_rerun_delay'];

export const BUILTIN_STEP_KEYS: Record<string, readonly string[]> = {
  run: RUN_KEYS,
  deploy: RUN_KEYS,
  // every step takes `when` (CircleCI accepts it on all of them); restore_cache ignores `paths`
  checkout: ['name', 'path', 'method', 'when'],
  setup_remote_docker: ['name', 'version', 'docker_layer_caching', 'reusable', 'exclusive', 'prefer_same_region', 'when'],
  save_cache: ['name', 'paths', 'key', 'when'],
  restore_cache: ['name', 'key', 'keys', 'paths', 'when'],
  store_artifacts: ['name', 'path', 'destination', 'when'],
  store_test_results: ['name', 'path', 'when'],
  persist_to_workspace: ['name', 'root', 'paths', 'when'],
  attach_workspace: ['name', 'at', 'when'],
  add_ssh_keys: ['name', 'fingerprints', 'when'],
  install_signing_bundle: ['name', 'when'],
};

const REQUIRED: Record<string, readonly string[]> = {
  run: ['command'],
  save_cache: ['paths', 'key'],
  store_artifacts: ['path'],
  store_test_results: ['path'],
  persist_to_workspace: ['root', 'paths'],
  attach_workspace: ['at'],
};

/**
 * Steps whose map CircleCI's published schema leaves open: any other key is ignored. On the other
 * built-in steps the schema is closed, yet CircleCI runs configs with extra keys on them; there
 * only a near miss of one of the step's own keys is refused (a typo that would drop a setting).
 */
const OPEN_STEPS = new Set(['run', 'deploy']);

export function isBuiltinStep(name: string): boolean {
  return Object.hasOwn(BUILTIN_STEP_KEYS, name);
}

/** Checks a built-in step's arguments and returns its canonical form (keys CircleCI ignores left out, with a warning). */
export function canonicalBuiltin(type: string, args: Value, pos: SourcePos | undefined, warn: WarningSink = () => undefined): ValueMap {
  let map: ValueMap;
  if (args === null || args === undefined) map = {};
  else if (typeof args === 'string' && (type === 'run' || type === 'deploy')) map = { command: args };
  else if (isMapValue(args)) map = { ...args };
  else throw configError(pos, `step "${type}" takes a map of arguments${type === 'run' ? ' or a command string' : ''}, got ${describeType(args)}`);
  if (isMapValue(args)) copyPos(args, map);
  const keys = BUILTIN_STEP_KEYS[type];
  for (const k of Object.keys(map)) {
    if (keys.includes(k)) continue;
    const at = isMapValue(args) ? keyPos(args, k) : pos;
    if (!OPEN_STEPS.has(type) && closest(k, keys) !== undefined) {
      throw configError(at, `step "${type}" has no key "${k}"${didYouMean(k, keys)}; its keys are ${keys.join(', ')}`);
    }
    warn(configWarning(at, `"${k}" in step "${type}" is ignored (CircleCI ignores it too)${didYouMean(k, keys)}; the step's keys are ${keys.join(', ')}`));
    delete map[k];
  }
  if (type === 'restore_cache') {
    if (map.key === undefined && map.keys === undefined) throw configError(pos, 'step "restore_cache" needs "key" or "keys"');
  }
  for (const k of REQUIRED[type] ?? []) {
    if (map[k] === undefined || map[k] === null) throw configError(pos, `step "${type}" requires "${k}"`);
  }
  for (const k of ['paths', 'keys', 'fingerprints']) {
    const v = map[k];
    if (v !== undefined && v !== null && !Array.isArray(v) && typeof v !== 'string') {
      throw configError(isMapValue(args) ? valuePos(args, k) : pos, `"${k}" of step "${type}" must be a list, got ${describeType(v)}`);
    }
  }
  const out: ValueMap = { [type === 'deploy' ? 'run' : type]: map };
  copyPos(map, out);
  return out;
}
