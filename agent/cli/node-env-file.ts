/**
 * Node 20 takes `--env-file` from anywhere on its command line, a script's own arguments
 * included, until a `--` (https://github.com/nodejs/node/issues/54232): it loads the file into
 * the process's environment and applies a NODE_OPTIONS line of it before any script runs. The
 * `deckhand` launcher (bin/deckhand.js) starts Node with `--` for that reason. Started another
 * way — `node bin/deckhand.js execute --env-file F` — Node has read F by the time Deckhand runs;
 * this tells, from the process's real command line, and the CLI refuses to go on.
 */
import { readFileSync } from 'node:fs';

const isEnvFileFlag = (a: string): boolean => a === '--env-file' || a.startsWith('--env-file=');

/** The process's command line as started, or undefined where /proc does not show it. */
function ownCommandLine(): string[] | undefined {
  try {
    return readFileSync('/proc/self/cmdline', 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/**
 * Whether Node read an `--env-file` of `argv` itself: one is there, and the command line Node
 * was started with has no `--` before it. False where that cannot be known.
 */
export function nodeReadEnvFile(argv: readonly string[], commandLine: () => string[] | undefined = ownCommandLine): boolean {
  if (!argv.some(isEnvFileFlag)) return false;
  const started = commandLine();
  if (started === undefined) return false;
  for (const arg of started) {
    if (arg === '--') return false;
    if (isEnvFileFlag(arg)) return true;
  }
  return false;
}
