/**
 * The job's startup script in the primary, before the first step: learns the user's home, the
 * image's PATH and whether bash exists (CircleCI's default shell rule), creates the working
 * directory, the task-data directory and an empty $BASH_ENV, and installs the in-container tools
 * when it may write their folder. The executor runs it while starting the primary when it can
 * (Docker: in the idle command); otherwise it runs as one exec. Either way one script, no more.
 */
import { ExecutorError, type Executor, type StartupOutcome, type StartupScript } from '../executor/executor.js';
import { JOB_TOOL_ALIAS, JOB_TOOL_NAME, JOB_TOOLS_DIR, jobToolScript, jobToolsTar } from '../job-tools/install.js';
import { captureScript } from '../steps/container-script.js';

export interface ProbeResult {
  home: string;
  path: string;
  workingDirectory: string;
  hasBash: boolean;
}

const TOOLS_INSTALLED = 'tools-installed';

// $1 working directory, $2 task-data directory, $3 the job tools script
const SCRIPT = `set -e
wd="$1"
case "$wd" in "~") wd="$HOME" ;; "~/"*) wd="$HOME/\${wd#\\~/}" ;; esac
mkdir -p "$wd" "$2"
: > "$2/.bash_env"
printf '%s\\n' "$HOME" "$PATH" "$wd"
if [ -x /bin/bash ]; then echo bash; else echo sh; fi
# a non-root user may not write ${JOB_TOOLS_DIR}: then the agent copies the tools in as root
if { mkdir -p ${JOB_TOOLS_DIR} && printf '%s' "$3" > ${JOB_TOOLS_DIR}/${JOB_TOOL_NAME} && chmod 755 ${JOB_TOOLS_DIR}/${JOB_TOOL_NAME} && ln -sf ${JOB_TOOL_NAME} ${JOB_TOOLS_DIR}/${JOB_TOOL_ALIAS}; } 2>/dev/null; then echo ${TOOLS_INSTALLED}; fi
`;

export function startupScript(workingDirectory: string, taskDataDir: string): StartupScript {
  return { script: SCRIPT, args: [workingDirectory, taskDataDir, jobToolScript().toString('utf8')] };
}

/**
 * The probe's findings, from the outcome `prepare()` returned or, when the executor did not run
 * the script, from running it now; the tools are copied in when the script could not install them.
 */
export async function probePrimary(
  executor: Executor,
  startup: StartupScript,
  outcome: StartupOutcome | undefined,
  workingDirectory: string,
  signal: AbortSignal,
): Promise<ProbeResult> {
  let result = outcome;
  if (!result) {
    const r = await captureScript({ executor, signal }, startup.script, startup.args);
    result = { exitCode: r.exitCode, output: r.exitCode === 0 ? r.stdout : r.stderr };
  }
  if (result.exitCode !== 0) {
    throw new ExecutorError(`cannot prepare the working directory ${workingDirectory} in the primary container: ${result.output.trim() || `exit code ${result.exitCode}`}`);
  }
  const [home, path, wd, shell, tools] = result.output.split('\n');
  if (tools !== TOOLS_INSTALLED) await executor.copyIn('/', jobToolsTar(), signal);
  return { home, path: path || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', workingDirectory: wd, hasBash: shell === 'bash' };
}
