/**
 * The in-container job tools (`circleci-agent`, and `circleci` as a symlink
 * to it, as CircleCI installs them) packed for Executor.copyIn. The runner
 * copies them once per job into JOB_TOOLS_DIR and puts that dir on PATH.
 *
 * The tool itself is the POSIX sh script beside this file's source; it is
 * read from the source tree at run time (dist/agent/job-tools/install.js →
 * ../../../agent/job-tools/), so the script has exactly one copy.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { packagePath } from '../package-root.js';

/** Where CircleCI puts its agent binary inside job containers. */
export const JOB_TOOLS_DIR = '/opt/circleci/bin';

/** The name the runner invokes; `circleci` points at it. */
export const JOB_TOOL_NAME = 'circleci-agent';
export const JOB_TOOL_ALIAS = 'circleci';

/**
 * The halt contract: the runner creates a directory in the container and
 * passes it to every step in TASK_DATA_ENV; `circleci-agent step halt`
 * creates HALT_MARKER in it, and the runner looks for that file after each
 * step (present: stop the job there, without failing it).
 */
export const TASK_DATA_ENV = 'CIRCLE_INTERNAL_TASK_DATA';
export const HALT_MARKER = 'halt';

/**
 * The timings contract: at spin-up the runner writes the job's stored test timings to this file
 * in the task-data directory (TSV `type<TAB>name<TAB>seconds`, type file|classname|testname);
 * `tests split --split-by=timings` reads it (agent/test-results/deliver-timings.ts).
 */
export const TIMINGS_FILE = 'test-timings.tsv';

const SCRIPT_PATH = packagePath('agent', 'job-tools', 'circleci-agent.sh');

let script: Buffer | undefined;

/** The script's bytes, read on first use and kept for later jobs. */
export function jobToolScript(): Buffer {
  if (!script) {
    try {
      script = readFileSync(SCRIPT_PATH);
    } catch (error) {
      throw new Error(`cannot read the job tools script ${SCRIPT_PATH}: ${(error as Error).message}; reinstall deckhand so agent/job-tools/ is present`);
    }
  }
  return script;
}

/** A tar stream holding `circleci-agent` (0755, root-owned) and the symlink `circleci -> circleci-agent`. */
export function jobToolsTar(): Readable {
  const body = jobToolScript();
  const pack = tar.pack();
  // Fixed owner and time: the entries are the same bytes for every job. The paths are absolute
  // from `/` (copy the archive to `/`), so no directory has to be made in the container first.
  const common = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: new Date(0) };
  const dir = JOB_TOOLS_DIR.replace(/^\//, '');
  pack.entry({ ...common, name: `${dir.split('/').slice(0, -1).join('/')}/`, type: 'directory', mode: 0o755 });
  pack.entry({ ...common, name: `${dir}/`, type: 'directory', mode: 0o755 });
  pack.entry({ ...common, name: `${dir}/${JOB_TOOL_NAME}`, type: 'file', mode: 0o755, size: body.length }, body);
  pack.entry({ ...common, name: `${dir}/${JOB_TOOL_ALIAS}`, type: 'symlink', mode: 0o777, linkname: JOB_TOOL_NAME });
  pack.finalize();
  // tar-stream packs are streamx streams; hand callers a Node Readable.
  return Readable.from(pack, { objectMode: false });
}
