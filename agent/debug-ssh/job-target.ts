/**
 * What sessions need to know about the job before the first one arrives, learnt with one script
 * in the primary: the user they run as (the name printed in `ssh -p PORT USER@HOST`), the shell
 * (bash when there is one), and the startup file of their shells, written there. The file makes
 * a session's shell look like the job's steps once the login files have run: the job's PATH
 * (Debian's /etc/profile resets it) and what earlier steps put in $BASH_ENV.
 */
import { randomBytes } from 'node:crypto';
import { ExecutorError } from '../executor/executor.js';
import { shellQuote } from '../executor/machine/remote-command.js';
import { captureScript } from '../steps/container-script.js';
import type { StepContext } from '../steps/step.js';
import { NO_SFTP_SERVER, type SessionTarget } from './session.js';

export interface JobSessions {
  target: SessionTarget;
  /** the user sessions run as, by name (its uid when it has none) */
  user: string;
}

/** Where sftp-server lives: Debian and Ubuntu, Fedora and RHEL, Alpine and Arch, the BSDs. */
const SFTP_SERVERS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/lib/ssh/sftp-server', '/usr/libexec/sftp-server', '/usr/lib/sftp-server'];

/**
 * The image's sftp-server, found and started by one command: the client sends its first packet
 * as soon as the channel opens, so the lookup cannot come before the channel is accepted.
 */
const SFTP_SERVER = [
  '/bin/sh',
  '-c',
  `for p in ${SFTP_SERVERS.join(' ')}; do if [ -x "$p" ]; then exec "$p"; fi; done; if command -v sftp-server >/dev/null 2>&1; then exec sftp-server; fi; echo "deckhand: this image has no sftp-server (sftp and scp need one): install openssh-sftp-server (Debian, Ubuntu) or openssh (Alpine)" >&2; exit ${NO_SFTP_SERVER}`,
];

export async function prepareJobSessions(ctx: Pick<StepContext, 'executor' | 'environment' | 'workingDirectory' | 'signal'>, taskDataDir: string): Promise<JobSessions> {
  const rcFile = `${taskDataDir}/ssh-rc`;
  const end = `DECKHAND_RC_${randomBytes(6).toString('hex')}`;
  const script = [
    'set -e',
    `mkdir -p ${shellQuote(taskDataDir)}`,
    `cat > ${shellQuote(rcFile)} <<'${end}'`,
    rcText(ctx.environment.PATH),
    end,
    'id -un 2>/dev/null || id -u',
    'if [ -x /bin/bash ]; then echo /bin/bash; else echo /bin/sh; fi',
  ].join('\n');
  const r = await captureScript(ctx, script);
  if (r.exitCode !== 0) throw new ExecutorError(`cannot prepare SSH sessions in the primary: ${(r.stderr || r.stdout).replace(/\s+/g, ' ').trim() || `exit code ${r.exitCode}`}`);
  const [user = 'root', shell = '/bin/sh'] = r.stdout.trim().split('\n');
  const target: SessionTarget = { executor: ctx.executor, environment: ctx.environment, workingDirectory: ctx.workingDirectory, shell, rcFile, sftpServer: SFTP_SERVER };
  return { target, user };
}

/** The startup file of the sessions' shells (POSIX sh; bash reads it with --rcfile, sh through $ENV). */
function rcText(path: string | undefined): string {
  return [
    '# Deckhand: an SSH session into the job. A login shell first, then the environment of the job\'s steps.',
    'if [ -n "${BASH_VERSION-}" ]; then',
    '  if [ -r /etc/profile ]; then . /etc/profile; fi',
    '  for deckhand_f in "$HOME/.bash_profile" "$HOME/.bash_login" "$HOME/.profile"; do',
    '    if [ -r "$deckhand_f" ]; then . "$deckhand_f"; break; fi',
    '  done',
    '  unset deckhand_f',
    'fi',
    ...(path ? [`export PATH=${shellQuote(path)}`] : []),
    'if [ -n "${BASH_ENV-}" ] && [ -r "$BASH_ENV" ]; then . "$BASH_ENV"; fi',
  ].join('\n');
}
