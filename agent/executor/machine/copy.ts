// Files in and out of the VM as tar streams on session channels, and whether a path exists.
//
// Copies run tar as root (through `sudo -n` when the login user is not root), as the Docker
// engine's archive calls do: owners and modes come from the archive's headers, and every file
// can be read. The steps depend on that: they put the job user's ids in the headers of what
// they copy in, and the job tools go to /opt/circleci/bin.

import { PassThrough, pipeline, type Readable } from 'node:stream';
import { posix } from 'node:path';
import type { ClientChannel } from 'ssh2';
import { ExecutorError } from '../executor.js';
import { sessionEnd, type VmConnection } from './connection.js';
import { existsCommandLine, NO_SUCH_PATH, tarCommandLine, untarCommandLine } from './remote-command.js';

/** SFTP's status for a path that is not there. */
const SFTP_NO_SUCH_FILE = 2;

export interface CopySettings {
  /** the login user is not root: tar runs through sudo */
  sudo: boolean;
  loginUser: string;
}

export async function copyIn(connection: VmConnection, settings: CopySettings, directory: string, archive: Readable, signal?: AbortSignal): Promise<void> {
  const where = `cannot copy into ${directory} of VM ${connection.where}`;
  // Take hold of the stream before the first await: a child process's stdout that nobody
  // reads is drained and discarded when it exits.
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  const sourceFailed = new AbortController();
  pipeline(archive, body, (error) => {
    if (error) sourceFailed.abort(error);
  });
  const stop = signal ? AbortSignal.any([signal, sourceFailed.signal]) : sourceFailed.signal;
  if (stop.aborted) {
    body.destroy();
    throw stopped(where, signal, sourceFailed.signal);
  }
  let channel: ClientChannel;
  try {
    channel = await connection.exec(untarCommandLine(directory, settings.sudo), `copy into ${directory}`);
  } catch (error) {
    body.destroy();
    throw error;
  }
  const status = exitStatus(connection, channel);
  const stderr = keepText(channel.stderr);
  channel.resume();
  // a broken source or a cancel ends the copy: tar would otherwise wait for the rest
  const onStop = (): void => {
    body.unpipe(channel);
    body.destroy();
    channel.close();
  };
  stop.addEventListener('abort', onStop, { once: true });
  body.pipe(channel);
  try {
    const code = await status;
    if (stop.aborted) throw stopped(where, signal, sourceFailed.signal);
    if (code !== 0) throw new ExecutorError(`${where}: ${tarFailure(stderr(), code, settings)}`);
  } catch (error) {
    // tar is gone: release the caller's stream (and whatever produces it) rather than leave it stalled
    body.unpipe(channel);
    body.destroy();
    throw error;
  } finally {
    stop.removeEventListener('abort', onStop);
  }
}

export async function copyOut(connection: VmConnection, settings: CopySettings, path: string, signal?: AbortSignal): Promise<Readable> {
  const where = `cannot copy ${path} out of VM ${connection.where}`;
  signal?.throwIfAborted();
  const normal = posix.normalize(path);
  const directory = normal === '/' ? '/' : posix.dirname(normal.replace(/\/$/, ''));
  const name = normal === '/' ? '.' : posix.basename(normal.replace(/\/$/, ''));
  const channel = await connection.exec(tarCommandLine(directory, name, settings.sudo), `copy ${path} out`);
  channel.end();
  const status = exitStatus(connection, channel);
  const stderr = keepText(channel.stderr);
  const onAbort = (): void => {
    channel.close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  // the first bytes, or the end: a missing path is reported here rather than as a broken stream
  const first = await new Promise<Buffer | undefined>((resolve) => {
    channel.once('data', (chunk: Buffer) => {
      channel.pause();
      resolve(chunk);
    });
    status.then(
      () => resolve(undefined),
      () => resolve(undefined),
    );
  });
  if (first === undefined) {
    signal?.removeEventListener('abort', onAbort);
    const code = await status;
    if (signal?.aborted) throw new ExecutorError(`${where}: cancelled`);
    if (code === NO_SUCH_PATH) throw new ExecutorError(`${where}: no such file or directory`);
    throw new ExecutorError(`${where}: ${tarFailure(stderr(), code, settings)}`);
  }
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  out.write(first);
  channel.pipe(out, { end: false });
  status.then(
    (code) => {
      signal?.removeEventListener('abort', onAbort);
      // GNU tar exits with 1 for files that changed while it read them: the archive is whole
      if (signal?.aborted) out.destroy(new ExecutorError(`${where}: cancelled`));
      else if (code === 0 || code === 1) out.end();
      else out.destroy(new ExecutorError(`${where}: ${tarFailure(stderr(), code, settings)}`));
    },
    (error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  return out;
}

/**
 * An lstat over the connection's SFTP channel: no process on the VM, a fraction of a millisecond
 * (docs/machine.md). `test -e` on a channel of its own when SFTP is missing or cannot tell.
 */
export async function exists(connection: VmConnection, path: string): Promise<boolean> {
  const sftp = await connection.sftp();
  if (sftp) {
    const answer = await new Promise<boolean | undefined>((resolve) => {
      sftp.lstat(path, (error) => {
        if (!error) return resolve(true);
        resolve((error as Error & { code?: number }).code === SFTP_NO_SUCH_FILE ? false : undefined);
      });
    });
    if (answer !== undefined) return answer;
  }
  const lost = connection.lost;
  if (lost) throw lost;
  const channel = await connection.exec(existsCommandLine(path), `look up ${path}`);
  channel.end();
  channel.resume();
  channel.stderr.resume();
  const code = await exitStatus(connection, channel);
  if (code === 0 || code === 1) return code === 0;
  throw new ExecutorError(`cannot look up ${path} on VM ${connection.where}: test exited with ${code}`);
}

/** The exit code once the channel has closed; -1 for none (killed); rejects when the connection was lost. */
function exitStatus(connection: VmConnection, channel: ClientChannel): Promise<number> {
  const status = sessionEnd(connection, channel).then((end) => end.code ?? -1);
  status.catch(() => undefined);
  return status;
}

/** Keeps the first few KB of a stream's text, and reads the rest away. */
function keepText(stream: Readable): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    if (text.length < 4096) text += chunk.toString('utf8');
  });
  stream.on('error', () => undefined);
  return () => text;
}

function tarFailure(stderr: string, code: number, settings: CopySettings): string {
  const said = stderr.trim().split('\n').slice(-2).join('; ');
  const reason = said || `tar exited with ${code}`;
  if (settings.sudo && /^sudo:/m.test(stderr)) return `${reason}; copies run tar as root: give ${settings.loginUser} passwordless sudo (NOPASSWD) on the VM`;
  return reason;
}

function stopped(where: string, signal: AbortSignal | undefined, sourceFailed: AbortSignal): ExecutorError {
  if (sourceFailed.aborted && !signal?.aborted) {
    const reason: unknown = sourceFailed.reason;
    return new ExecutorError(`${where}: the archive could not be read: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
  return new ExecutorError(`${where}: cancelled`);
}
