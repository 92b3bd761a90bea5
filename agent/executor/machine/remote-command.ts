// The command lines sent over SSH. An exec request carries one string, which sshd hands to the
// login user's shell (`$SHELL -c LINE`), so every argv word, variable and path is quoted for sh
// here; nothing else on the way interprets them.
//
// The environment goes into the line as well, not through SSH's `env` requests: sshd accepts
// those only for the names its AcceptEnv lists (Debian's: LANG and LC_*) and drops the rest
// without a word, so a job's variables would go missing on most VMs.

import { ExecutorError, type ExecRequest } from '../executor.js';

/** A word for POSIX sh: single-quoted unless plainly safe; bytes are kept exactly (newlines, `$`, quotes). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Above this, the script goes over stdin: the kernel caps one argument at 128 KiB. */
const LONGEST_LINE = 96 * 1024;

/** Names bash will not let `export` set; a request that sets one goes through env(1). */
const BASH_READONLY = new Set(['BASHOPTS', 'BASH_VERSINFO', 'EUID', 'PPID', 'SHELLOPTS', 'UID']);

export interface CommandLine {
  /** for the exec request */
  line: string;
  /** written to the command's stdin, then EOF (the script itself, when too long for the line) */
  stdin?: string;
  /** the command runs as another user, through sudo: signals to it need sudo too */
  viaSudo: boolean;
}

/** What sudo is told: `-u` and, with `user:group`, `-g` (`#n` for numeric ids). */
interface RunAs {
  user: string;
  group?: string;
}

/** `name`, `uid`, `name:group` or `uid:gid`, as Docker's `User`; undefined when it is the login user. */
export function runAsOther(user: string | undefined, loginUser: string): RunAs | undefined {
  if (user === undefined || user === '' || user === loginUser) return undefined;
  const [name = '', group] = user.split(':', 2);
  const sudoId = (id: string): string => (/^\d+$/.test(id) ? `#${id}` : id);
  return { user: sudoId(name), ...(group ? { group: sudoId(group) } : {}) };
}

/**
 * The line for one command. It first prints `marker PGID` on stdout: the command's process
 * group, for signals sent later on another channel. sshd starts every session as a session
 * leader (setsid), so the login shell's PID is that group, and `exec` keeps it for the command;
 * under sudo, setsid makes the command a group of its own, apart from sudo (which would
 * otherwise pass each signal on a second time).
 */
export function execCommandLine(
  request: Pick<ExecRequest, 'command' | 'env' | 'workingDirectory' | 'user'>,
  marker: string,
  loginUser: string,
  interactive = false,
  haltReport?: HaltReport,
): CommandLine {
  const runAs = runAsOther(request.user, loginUser);
  const script = [
    `printf '%s %s\\n' ${marker} "$$"`,
    ...(request.workingDirectory ? [`cd -- ${shellQuote(request.workingDirectory)} || exit 126`] : []),
    // Debian's bash, started by sshd (it looks for these) at shell level 1, reads ~/.bashrc
    // instead of $BASH_ENV: a step's `bash -c` would miss what earlier steps put there
    'unset SSH_CLIENT SSH2_CLIENT',
    ...inBashOrExec(request.command, environment(request.env ?? {}), runAs || interactive ? undefined : haltReport),
  ].join('\n');
  const long = script.length > LONGEST_LINE;
  // an interactive command's stdin is the person's: the script cannot come that way
  if (long && interactive) throw new ExecutorError(`cannot start "${request.command.join(' ').slice(0, 60)}" on the VM: its environment makes a command line over ${LONGEST_LINE / 1024} KiB`);
  // `eval "$(cat)"`: the script read from stdin runs in the same shell (same PID, no argv limit),
  // and the command then finds its stdin at its end, as it would otherwise
  const body = long ? 'eval "$(cat)"' : script;
  if (!runAs) return { line: body, viaSudo: false, ...(long ? { stdin: script } : {}) };
  const checks = [
    `id -u -- ${shellQuote(runAs.user.replace(/^#/, ''))} >/dev/null 2>&1 || { echo ${shellQuote(`no user ${runAs.user.replace(/^#/, '')} on the VM`)} >&2; exit 126; }`,
    ...(runAs.group
      ? [`getent group -- ${shellQuote(runAs.group.replace(/^#/, ''))} >/dev/null || { echo ${shellQuote(`no group ${runAs.group.replace(/^#/, '')} on the VM`)} >&2; exit 126; }`]
      : []),
  ];
  // setsid would take an interactive command away from its terminal: it stays in sudo's session
  const sudo = `exec sudo -n -u ${shellQuote(runAs.user)}${runAs.group ? ` -g ${shellQuote(runAs.group)}` : ''} -- ${interactive ? '' : 'setsid '}/bin/sh -c ${shellQuote(body)}`;
  return { line: [...checks, sudo].join('\n'), viaSudo: true, ...(long ? { stdin: script } : {}) };
}

/** A path whose existence a command reports on stdout as it ends: `token 1` or `token 0`. */
export interface HaltReport {
  path: string;
  /** hex and dashes: taken out of the output by CommandOutput */
  token: string;
}

/**
 * An EXIT trap for the login shell: once the step's script is done (whichever way the shell
 * exits), it prints whether `path` exists, so the runner's look for the halt marker after the
 * step needs no round trip of its own. It prints only while stdout is still the channel's pipe
 * (the same inode as when the shell started, read from /proc without a fork): a script that sent
 * its stdout elsewhere, or closed it, gets no stray line in its file. xtrace is off inside the
 * trap, `|| :` keeps errexit from changing the exit status, and bash keeps the status the shell
 * was exiting with. A script that sets an EXIT trap of its own replaces this one; no line comes
 * then, and the executor looks the path up over SFTP as before.
 */
function haltTrap(report: HaltReport): string[] {
  // the same for every step of a job
  if (lastTrap?.path === report.path && lastTrap.token === report.token) return lastTrap.lines;
  const path = shellQuote(report.path);
  const trap = [
    '{ set +xv; } 2>/dev/null',
    '__deckhand_now=',
    `{ builtin read -r -d '' __deckhand_now </proc/$$/fdinfo/1 || :; } 2>/dev/null`,
    `if [[ \${__deckhand_now#*ino:} == "\${__deckhand_stdout#*ino:}" ]]; then if [[ -e ${path} || -L ${path} ]]; then builtin printf '%s 1\\n' ${report.token}; else builtin printf '%s 0\\n' ${report.token}; fi 2>/dev/null || :; fi`,
  ].join('; ');
  const lines = [
    `{ builtin read -r -d '' __deckhand_stdout </proc/$$/fdinfo/1; } 2>/dev/null`,
    `if [[ \${__deckhand_stdout-} == *ino:* ]]; then trap ${shellQuote(trap)} EXIT; fi`,
  ];
  lastTrap = { path: report.path, token: report.token, lines };
  return lines;
}

/** The trap haltTrap() made last. */
let lastTrap: (HaltReport & { lines: string[] }) | undefined;

/**
 * A step's `bash -eo pipefail -c SCRIPT` when the login shell is bash itself (it is on Deckhand's
 * VM image and on CircleCI's machine images): the login shell takes the options and runs the
 * script, as the second bash would — its options set, $BASH_ENV read, the script as one word —
 * without starting one more process (a bash start is a third of a step's cost over SSH). Any
 * other command, or another login shell, is exec'ed as it is.
 */
function inBashOrExec(command: string[], env: string, haltReport: HaltReport | undefined): string[] {
  const exec = `${env}${command.map(shellQuote).join(' ')}`;
  const [shell, ...rest] = command;
  const at = rest.indexOf('-c');
  const options = rest.slice(0, at);
  const script = rest[at + 1];
  const plain = /^(\/usr)?(\/bin\/)?bash$/.test(shell ?? '') && at >= 0 && rest.length === at + 2 && script !== undefined && options.every((o, i) => /^-[eux]*o?$/.test(o) || (options[i - 1]?.endsWith('o') === true && /^[a-z]+$/.test(o)));
  if (!plain) return [exec];
  // exports first (they end with `exec `, which is left out here: the shell stays)
  const exports = env.endsWith('exec ') ? env.slice(0, -'exec '.length) : undefined;
  if (exports === undefined) return [exec];
  return [
    `if [ -n "\${BASH_VERSION-}" ]; then`,
    // before the options (no xtrace of it) and $BASH_ENV (whose own EXIT trap wins)
    ...(haltReport ? haltTrap(haltReport) : []),
    // a bare `set` would list every variable: only with options
    ...(options.length > 0 ? [`${exports}set ${options.join(' ')}`] : exports ? [exports.trimEnd()] : []),
    'if [ -n "${BASH_ENV-}" ] && [ -r "$BASH_ENV" ]; then . "$BASH_ENV"; fi',
    `eval ${shellQuote(script)}`,
    'exit',
    'fi',
    exec,
  ];
}

/** `export K=V…; exec argv`, or `exec env K=V… argv` for names `export` cannot take. */
function environment(env: Record<string, string>): string {
  const entries = Object.entries(env);
  // a job's steps mostly share one environment: quoting it again for each step is CPU a step waits on
  if (lastEnvironment && sameEntries(lastEnvironment.entries, entries)) return lastEnvironment.text;
  let text = 'exec ';
  if (entries.length > 0) {
    const pairs = entries.map(([key, value]) => shellQuote(`${key}=${value}`)).join(' ');
    const exportable = entries.every(([key]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !BASH_READONLY.has(key));
    text = exportable ? `export ${pairs}\nexec ` : `exec env -- ${pairs} `;
  }
  lastEnvironment = { entries, text };
  return text;
}

/** The environment environment() rendered last, and its text. */
let lastEnvironment: { entries: [string, string][]; text: string } | undefined;

function sameEntries(a: [string, string][], b: [string, string][]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1]) return false;
  return true;
}

/** Sends `signal` (TERM, KILL…) to process groups; a group that has gone is no failure. */
export function signalCommandLine(groups: number[], signal: string, viaSudo: boolean): string {
  const kill = `kill -s ${signal} -- ${groups.map((g) => `-${g}`).join(' ')}`;
  return `${viaSudo ? `sudo -n /bin/sh -c ${shellQuote(kill)}` : kill} 2>/dev/null; exit 0`;
}

/** Unpacks the tar on stdin into `directory` (made if missing), as root: owners and modes as in the archive. */
export function untarCommandLine(directory: string, asRoot: boolean): string {
  const script = 'mkdir -p -- "$1" && exec tar -x -p -f - -C "$1"';
  return `${asRoot ? 'sudo -n ' : ''}/bin/sh -c ${shellQuote(script)} sh ${shellQuote(directory)}`;
}

/** Exit status of tarCommandLine for a path that does not exist. */
export const NO_SUCH_PATH = 44;

/** A tar of `name` in `directory` on stdout, as root (every file readable). */
export function tarCommandLine(directory: string, name: string, asRoot: boolean): string {
  const script = `cd -- "$1" 2>/dev/null && { [ -e "$2" ] || [ -L "$2" ]; } || exit ${NO_SUCH_PATH}; exec tar -c -f - -- "$2"`;
  return `${asRoot ? 'sudo -n ' : ''}/bin/sh -c ${shellQuote(script)} sh ${shellQuote(directory)} ${shellQuote(name)}`;
}

/** Exit 0 when the path exists (a dangling symlink does), 1 when not. */
export function existsCommandLine(path: string): string {
  return `test -e ${shellQuote(path)} || test -L ${shellQuote(path)}`;
}
