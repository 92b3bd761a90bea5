/**
 * Runs the bundled CLI (one CommonJS file) through a V8 code cache. Without it, every start
 * parses and compiles the code a command needs (about 50 ms of `deckhand execute`'s start on the
 * project's machines, docs/benchmarks.md); with it V8 deserializes what an earlier run compiled.
 * Node 20 offers no compile cache for ES modules (Node 22's module.enableCompileCache does the
 * same job), hence a CommonJS bundle compiled here with vm.Script's cachedData.
 *
 * The cache is one file per subcommand (and one for --help and --version), written once: at the
 * exit of the first successful run of that subcommand (or when V8 rejected the file it found), so
 * it holds the functions that command really ran. Its name carries the bundle's path, its build
 * and Node's version; V8 itself refuses data from another V8 version or other flags. Writing one
 * removes the caches of earlier builds of the same bundle and keeps the folder to
 * MAX_CACHE_FILES. Where: $DECKHAND_CODE_CACHE, else
 * $XDG_CACHE_HOME/deckhand, else ~/.cache/deckhand; DECKHAND_CODE_CACHE=off turns it off. A cache
 * that cannot be read or written is never an error: the command runs as it would without one.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

export interface BundleExports {
  main(argv: string[]): Promise<void>;
}

/** Loads `bundle` (a CommonJS file) with the code cache kept for `argv`'s subcommand, and runs its main(argv). */
export function runBundle(bundle: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return runSource(readFileSync(bundle, 'utf8'), bundle, argv, env);
}

/**
 * The same for a bundle's source held in memory (the Nomad plugin carries its own inside its one
 * file): `bundle` is the file whose path and build name the cache, and the source's filename.
 */
export function runSource(source: string, bundle: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const location = cacheLocation(bundle, argv, env);
  const cachedData = location ? readOptional(location.file) : undefined;
  // the same wrapper Node's CommonJS loader puts around a file, so the bundle sees require & co.
  const script = new Script(Module.wrap(source), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  if (location && (!cachedData || script.cachedDataRejected)) {
    // at exit, so that the data holds every function the command compiled on its way
    process.once('exit', (code) => {
      if (code === 0 && writeQuietly(location.file, script.createCachedData())) {
        try {
          pruneCacheFolder(location);
        } catch {
          // another run pruning at the same time, or a folder gone: the next write prunes again
        }
      }
    });
  }
  const module = { exports: {} as BundleExports };
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return module.exports.main(argv);
}

/** Runs that print help or a version compile almost nothing: they share a cache of their own. */
const INFO_FLAGS = new Set(['-h', '--help', '-V', '--version', 'help']);

/** Where the cache for this bundle and subcommand lives, or undefined when caching is off. */
export function codeCacheFile(bundle: string, argv: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  return cacheLocation(bundle, argv, env)?.file;
}

interface CacheLocation {
  file: string;
  /** the start of the name of every cache of the bundle at this path, whatever its build */
  place: string;
  /** the start of the name of every cache of this build of it */
  build: string;
}

function cacheLocation(bundle: string, argv: string[], env: NodeJS.ProcessEnv): CacheLocation | undefined {
  const setting = env.DECKHAND_CODE_CACHE;
  if (setting === 'off' || setting === '0') return undefined;
  let dir = setting;
  if (!dir) {
    const home = env.XDG_CACHE_HOME || safeHomedir();
    if (!home) return undefined;
    dir = env.XDG_CACHE_HOME ? join(home, 'deckhand') : join(home, '.cache', 'deckhand');
  }
  const stat = statSync(bundle, { throwIfNoEntry: false });
  if (!stat) return undefined;
  // FNV-1a of the path: node:crypto would cost every start more than the hash is worth
  let hash = 0x811c9dc5;
  for (let i = 0; i < bundle.length; i++) hash = Math.imul(hash ^ bundle.charCodeAt(i), 0x01000193) >>> 0;
  const place = `${basename(bundle)}-${hash.toString(16).padStart(8, '0')}-`;
  // a rebuilt bundle gets a new name (V8 checks only the source's length, not its text)
  const build = `${place}${[stat.size, Math.round(stat.mtimeMs * 1000), stat.ino, process.version, process.arch].join('-')}-`;
  const command = argv.slice(2).some((a) => INFO_FLAGS.has(a)) ? 'info' : /^[a-z][a-z-]*$/.test(argv[2] ?? '') ? argv[2] : 'other';
  return { file: join(dir, `${build}${command}.v8`), place, build };
}

/** Caches kept in the folder at most; beyond it the least recently written go. */
export const MAX_CACHE_FILES = 64;

/**
 * After a cache is written: the caches of earlier builds of the same bundle go (a rebuild makes
 * them useless), and the folder keeps at most MAX_CACHE_FILES (other checkouts, other versions).
 */
function pruneCacheFolder({ file, place, build }: CacheLocation): void {
  const dir = dirname(file);
  const kept: { name: string; written: number }[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.v8'))) {
    if (name.startsWith(place) && !name.startsWith(build)) rmSync(join(dir, name), { force: true });
    else kept.push({ name, written: statSync(join(dir, name), { throwIfNoEntry: false })?.mtimeMs ?? 0 });
  }
  kept.sort((a, b) => b.written - a.written);
  for (const old of kept.slice(MAX_CACHE_FILES)) rmSync(join(dir, old.name), { force: true });
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

function readOptional(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Written under a temporary name and renamed, so that concurrent runs never read half a file; false when it could not be. */
function writeQuietly(file: string, data: Buffer): boolean {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(temporary, data, { mode: 0o600 });
    renameSync(temporary, file);
    return true;
  } catch {
    // a read-only home or a full disk: the next run compiles again, as it would without a cache
    try {
      rmSync(temporary, { force: true });
    } catch {
      // there was no place to write it in the first place
    }
    return false;
  }
}
