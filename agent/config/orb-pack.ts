/**
 * `orb pack`: an orb's source folder → the one YAML document an orb registry stores, following
 * the layout `circleci orb pack` reads (https://circleci.com/docs/orb-concepts/#orb-packing):
 *
 *   DIR/@orb.yml            the orb's top level (version, description, display, orbs…); required
 *   DIR/*.yml               other YAML files at the root are merged into the top level too
 *   DIR/commands/NAME.yml   one element per file, named after the file; likewise jobs/,
 *   DIR/jobs/NAME.yml       executors/ and examples/ (`.yml` or `.yaml`). A file whose name
 *   DIR/executors/…         starts with `@` is merged into its folder's map instead.
 *   DIR/examples/…          Other folders and files, and dot-files, are not read.
 *
 * In commands, jobs and executors, a value that is exactly `<<include(path)>>` becomes the
 * contents of that file (path relative to DIR, inside DIR), with every `<<` in it written `\<<`
 * so that a script's own `<<` is not taken for a parameter. An include anywhere else in a value,
 * or two in one value, is an error, as in CircleCI's packer. Problems are positioned in the
 * source files.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { stringify } from 'yaml';
import { configError, configWarning, type Diagnostic, type SourcePos } from './diagnostics.js';
import { ORB_KEYS } from './orb-registry.js';
import { copyPos, decodeConfig, isMapValue, loadYamlFile, posOf, valuePos, type Value, type ValueMap } from './source.js';

/** The folders an orb source tree has, each a map of one element per file. */
const ELEMENT_FOLDERS = ['commands', 'jobs', 'executors', 'examples'] as const;
/** Where includes are filled in (not examples, as in CircleCI's packer). */
const INCLUDING = new Set(['commands', 'jobs', 'executors']);
/** The top-level keys a packed orb keeps, in the order they are written. */
const PACKED_ORDER = ['version', 'description', 'display', 'orbs', 'commands', 'executors', 'jobs', 'examples'];
const YAML_FILE = /^[^.].*\.(yml|yaml)$/;
/** `<<include(path)>>`, with the path characters CircleCI's packer accepts */
const INCLUDE = /<<\s*include\(([-\w/.]+)\)\s*>>/g;
const INCLUDE_LIKE = /<<\s*include\(/;

export interface PackedOrb {
  /** the packed orb, YAML */
  text: string;
  source: ValueMap;
  /** things left out (a folder not read, a key that is not an orb's) */
  warnings: Diagnostic[];
}

function isOrbSourceFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

export function packOrb(dir: string): PackedOrb {
  try {
    return pack(dir);
  } catch (err) {
    // a file that cannot be read (a dangling link, a folder named like a file, no permission) is the source's problem, told in one line
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code === 'string' && typeof e.path === 'string') throw configError(undefined, `cannot read ${e.path} (${e.code}) while packing the orb in ${dir}`);
    throw err;
  }
}

function pack(dir: string): PackedOrb {
  if (!isOrbSourceFolder(dir)) throw configError(undefined, `${dir} is not a folder: orb pack reads an orb's source folder (the one holding @orb.yml)`);
  const rootFile = join(dir, '@orb.yml');
  if (!existsSync(rootFile) || !statSync(rootFile).isFile()) {
    throw configError(undefined, `${dir} has no @orb.yml: an orb source folder holds @orb.yml (version, description…) with commands/, jobs/, executors/ and examples/ beside it; give that folder, or the packed orb file`);
  }
  const warnings: Diagnostic[] = [];
  const top: ValueMap = {};
  const rootFiles = readdirSync(dir)
    .filter((f) => YAML_FILE.test(f) && f !== '@orb.yml' && statSync(join(dir, f)).isFile())
    .sort();
  for (const f of ['@orb.yml', ...rootFiles]) Object.assign(top, readMap(join(dir, f)));

  for (const folder of ELEMENT_FOLDERS) {
    const path = join(dir, folder);
    if (!isOrbSourceFolder(path)) continue;
    const elements: ValueMap = isMapValue(top[folder]) ? { ...top[folder] } : {};
    for (const entry of readdirSync(path).sort()) {
      const file = join(path, entry);
      if (statSync(file).isDirectory()) {
        if (!entry.startsWith('.')) warnings.push(configWarning(undefined, `${file} is a folder; orb pack reads only the files directly in ${folder}/, so it is left out`));
        continue;
      }
      if (!YAML_FILE.test(entry)) continue;
      const content = readMap(file);
      if (entry.startsWith('@')) Object.assign(elements, content);
      else elements[entry.replace(/\.(yml|yaml)$/, '')] = content;
    }
    top[folder] = elements;
  }

  const realRoot = realpathSync(dir);
  for (const folder of INCLUDING) if (isMapValue(top[folder])) top[folder] = fillIncludes(top[folder], dir, realRoot, posOf(top[folder]));

  const packed: ValueMap = {};
  for (const key of PACKED_ORDER) if (key in top) packed[key] = top[key];
  for (const key of Object.keys(top)) {
    if (PACKED_ORDER.includes(key)) continue;
    warnings.push(configWarning(undefined, `"${key}" is not ${ORB_KEYS.includes(key) ? 'a key orb pack keeps' : 'an orb key'}; the packed orb leaves it out, as circleci orb pack does`));
  }
  return { text: stringify(packed, { lineWidth: 0, aliasDuplicateObjects: false }), source: packed, warnings };
}

/** A YAML file of the source tree as a map (an empty file is an empty map). */
function readMap(file: string): ValueMap {
  const v = loadYamlFile(file);
  if (v === null) return {};
  if (!isMapValue(v)) throw configError({ file, line: 1, col: 1 }, `${file} must hold a YAML map (the element's keys), not a list or a scalar`);
  return v;
}

function fillIncludes(v: Value, dir: string, realRoot: string, pos: SourcePos | undefined): Value {
  if (typeof v === 'string') return v.includes('include(') ? includeInto(v, dir, realRoot, pos) : v;
  if (Array.isArray(v)) {
    const out = v.map((x, i) => fillIncludes(x, dir, realRoot, valuePos(v, i) ?? pos));
    copyPos(v, out);
    return out;
  }
  if (isMapValue(v)) {
    const out: ValueMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = fillIncludes(x, dir, realRoot, valuePos(v, k) ?? pos);
    copyPos(v, out);
    return out;
  }
  return v;
}

function includeInto(s: string, dir: string, realRoot: string, pos: SourcePos | undefined): string {
  const matches = [...s.matchAll(INCLUDE)];
  if (matches.length === 0) {
    if (INCLUDE_LIKE.test(s)) throw configError(pos, `this include is not of the form <<include(path)>> with a path of letters, digits, "-", "_", "." and "/"`);
    return s;
  }
  if (matches.length > 1) throw configError(pos, 'a value holds two includes; each include must be a whole value of its own (<<include(path)>>)');
  const [whole, path] = matches[0];
  if (whole !== s) throw configError(pos, `${whole.trim()} must be the whole value (as with circleci orb pack); put the surrounding text in the included file`);
  const target = resolve(dir, path);
  if (isAbsolute(path) || !existsSync(target)) throw configError(pos, `cannot include ${path}: there is no such file in ${dir} (include paths are relative to the orb's source folder)`);
  const real = realpathSync(target);
  const rel = relative(realRoot, real);
  if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw configError(pos, `cannot include ${path}: it is outside the orb's source folder ${dir}`);
  if (!statSync(real).isFile()) throw configError(pos, `cannot include ${path}: it is not a file`);
  // a script that is not UTF-8 would reach the shell mangled: refused at its first bad byte
  return decodeConfig(readFileSync(real), path).replaceAll('<<', '\\<<');
}
