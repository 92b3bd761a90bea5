/**
 * Runs the bundled CLI (one CommonJS file) through a V8 code cache. Without it, every start
 * parses and compiles the code a command needs (about 50 ms of `deckhand execute`'s start on the
 * project's machines, docs/benchmarks.md); with it V8 deserializes what an earlier run compiled.
 * Node 20 offers no compile cache for ES modules (Node 22's module.enableCompileCache does the
 * same job), hence a CommonJS bundle compiled here with vm.Script's cachedData.
 *
 * The cache is one file per subcommand (and one for --help and --version), written once: at the
 * exit of the first successful run of that subcommand (or when V8 rejected the file it found), so
 * it holds the functions that command really ran. Its name carries the bundle's identity and Node's version; V8 itself refuses data
 * from another V8 version or other flags. Where: $DECKHAND_CODE_CACHE, else
 * $XDG_CACHE_HOME/deckhand, else ~/.cache/deckhand; DECKHAND_CODE_CACHE=off turns it off. A cache
 * that cannot be read or written is never an error: the command runs as it would without one.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

export interface BundleExports {
  main(argv: string[]): Promise<void>;
}

/** Loads `bundle` (a CommonJS file) with the code cache kept for `argv`'s subcommand, and runs its main(argv). */
export function runBundle(bundle: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const source = readFileSync(bundle, 'utf8');
  const cacheFile = codeCacheFile(bundle, argv, env);
  const cachedData = cacheFile ? readOptional(cacheFile) : undefined;
  // the same wrapper Node's CommonJS loader puts around a file, so the bundle sees require & co.
  const script = new Script(Module.wrap(source), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  if (cacheFile && (!cachedData || script.cachedDataRejected)) {
    // at exit, so that the data holds every function the command compiled on its way
    process.once('exit', (code) => {
      if (code === 0) writeQuietly(cacheFile, script.createCachedData());
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
  // a rebuilt bundle gets a new name (V8 checks only the source's length, not its text)
  const identity = [stat.size, Math.round(stat.mtimeMs * 1000), stat.ino, process.version, process.arch].join('-');
  const command = argv.slice(2).some((a) => INFO_FLAGS.has(a)) ? 'info' : /^[a-z][a-z-]*$/.test(argv[2] ?? '') ? argv[2] : 'other';
  return join(dir, `${basename(bundle)}-${identity}-${command}.v8`);
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

/** Written under a temporary name and renamed, so that concurrent runs never read half a file. */
function writeQuietly(file: string, data: Buffer): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(temporary, data, { mode: 0o600 });
    renameSync(temporary, file);
  } catch {
    // a read-only home or a full disk: the next run compiles again, as it would without a cache
    try {
      rmSync(temporary, { force: true });
    } catch {
      // there was no place to write it in the first place
    }
  }
}
