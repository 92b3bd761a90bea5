/**
 * One command in the primary before the first step: learns the user's home, the image's PATH and
 * whether bash exists (CircleCI's default shell rule), and creates the working directory, the
 * task-data directory and an empty $BASH_ENV. One exec instead of four keeps spin-up short.
 */
import { ExecutorError, type Executor } from '../executor/executor.js';
import { captureScript } from '../steps/container-script.js';

export interface ProbeResult {
  home: string;
  path: string;
  workingDirectory: string;
  hasBash: boolean;
}

const SCRIPT = `set -e
wd="$1"
case "$wd" in "~") wd="$HOME" ;; "~/"*) wd="$HOME/\${wd#\\~/}" ;; esac
mkdir -p "$wd" "$2"
: > "$2/.bash_env"
printf '%s\\n' "$HOME" "$PATH" "$wd"
if [ -x /bin/bash ]; then echo bash; else echo sh; fi
`;

export async function probePrimary(executor: Executor, workingDirectory: string, taskDataDir: string, signal: AbortSignal): Promise<ProbeResult> {
  const r = await captureScript({ executor, signal }, SCRIPT, [workingDirectory, taskDataDir]);
  if (r.exitCode !== 0) {
    throw new ExecutorError(`cannot prepare the working directory ${workingDirectory} in the primary container: ${r.stderr.trim() || `exit code ${r.exitCode}`}`);
  }
  const [home, path, wd, shell] = r.stdout.split('\n');
  return { home, path: path || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', workingDirectory: wd, hasBash: shell === 'bash' };
}
