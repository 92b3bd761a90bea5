// The one SSH connection of a machine job: opened with the VM's reported host key and no other,
// kept alive with keepalives so that a VM that dies silently is noticed, and the channel each
// command, copy and signal runs on. When it drops, everything on it fails with one reason.

import ssh2, { type ClientChannel, type PseudoTtyOptions, type SFTPWrapper } from 'ssh2';
import type { VmAccess } from '../../vm/provider.js';
import { ExecutorError, ExecutorUnavailableError } from '../executor.js';
import { fingerprintOf, hostKeyAlgorithms, parseHostKey, type HostPublicKey } from '../../vm/host-key.js';
import { canOpenAhead, execOn, isOpen, openAhead } from './session-ahead.js';

export interface ConnectionSettings {
  /** TCP connect plus SSH handshake and authentication */
  connectTimeoutMs: number;
  /** an SSH keepalive after this much silence from the VM… */
  keepaliveIntervalMs: number;
  /** …and the connection counts as lost after this many go unanswered */
  keepaliveCountMax: number;
}

/** SSH's reason code for a channel the server would not open (OpenSSH: MaxSessions reached). */
const ADMINISTRATIVELY_PROHIBITED = 1;

export class VmConnection {
  private lostReason: string | undefined;
  private closing = false;
  private sftpChannel: Promise<SFTPWrapper | undefined> | undefined;
  private openChannels = 0;
  /** the session channel opened for the next command (session-ahead.ts); none where ssh2 cannot */
  private spare: Promise<ClientChannel | undefined> | undefined;
  private readonly ahead: boolean;
  /** commands that ran on a channel opened ahead of them */
  commandsOnChannelsOpenedAhead = 0;

  private constructor(
    private readonly client: ssh2.Client,
    readonly where: string,
  ) {
    this.ahead = canOpenAhead(client);
  }

  /**
   * Connects and authenticates. Rejects with ExecutorUnavailableError when the VM cannot be
   * reached or presents another host key than `access.hostKey`, with ExecutorError otherwise;
   * nothing stays open then.
   */
  static open(access: VmAccess, settings: ConnectionSettings, signal?: AbortSignal): Promise<VmConnection> {
    const where = `${access.host}:${access.port}`;
    return new Promise<VmConnection>((resolve, reject) => {
      const expected = expectedHostKey(access.hostKey, where);
      const client = new ssh2.Client();
      let presented: Buffer | undefined;
      // the first error says why; ssh2 adds others as the socket closes
      let firstError: Error | undefined;
      const fail = (error: ExecutorError): void => {
        signal?.removeEventListener('abort', onAbort);
        client.removeAllListeners('ready');
        client.destroy();
        reject(error);
      };
      const onAbort = (): void => fail(new ExecutorError(`cannot connect to VM ${where}: cancelled`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const onClose = (): void => {
        if (presented && !presented.equals(expected.blob)) {
          return fail(
            new ExecutorUnavailableError(
              `VM ${where} presented the host key ${fingerprintOf(presented)}, not ${expected.fingerprint} that its provider reported; refusing to connect (another machine answers there, or the VM's host key changed)`,
            ),
          );
        }
        fail(connectFailure(where, access.user, expected.type, settings, firstError));
      };
      const onError = (error: Error): void => {
        firstError ??= error;
      };
      client
        .on('connect', () => client.setNoDelay(true))
        .on('error', onError)
        .once('close', onClose)
        .once('ready', () => {
          signal?.removeEventListener('abort', onAbort);
          client.off('close', onClose).off('error', onError);
          const connection = new VmConnection(client, where);
          connection.watch();
          resolve(connection);
        });
      // ssh2 throws at once for a private key it cannot read
      try {
        client.connect({
          host: access.host,
          port: access.port,
          username: access.user,
          privateKey: access.privateKey,
          hostVerifier: (key: Buffer) => {
            presented = key;
            return key.equals(expected.blob);
          },
          algorithms: { serverHostKey: hostKeyAlgorithms(expected) },
          readyTimeout: settings.connectTimeoutMs,
          keepaliveInterval: settings.keepaliveIntervalMs,
          keepaliveCountMax: settings.keepaliveCountMax,
        });
      } catch (error) {
        fail(new ExecutorError(`cannot use the private key for user ${access.user} of VM ${where}: ${messageOf(error)}; check the key its provider hands out`));
      }
    });
  }

  /** Why the connection is gone, when it went without being closed. */
  get lost(): ExecutorUnavailableError | undefined {
    return this.lostReason === undefined ? undefined : new ExecutorUnavailableError(`lost the connection to VM ${this.where}: ${this.lostReason}`);
  }

  /**
   * Opens a session channel running `command` (a line for the login shell), on a pseudo-terminal
   * when `pty` is given. A command without one runs on the channel opened ahead for it, and the
   * next command's is opened at once (session-ahead.ts).
   */
  async exec(command: string, what: string, pty?: PseudoTtyOptions): Promise<ClientChannel> {
    if (pty || !this.ahead || this.lost || this.closing) return this.execOnNewChannel(command, what, pty);
    const mine = this.spare ?? this.openSpare();
    this.spare = this.openSpare();
    const channel = await mine;
    if (!channel || !isOpen(channel)) return this.execOnNewChannel(command, what);
    try {
      const started = await execOn(this.client, channel, command);
      this.commandsOnChannelsOpenedAhead++;
      return started;
    } catch (error) {
      throw this.lost ?? this.channelFailure(error as Error, what);
    }
  }

  /** A session channel for a later command, counted as open until it closes. */
  private openSpare(): Promise<ClientChannel | undefined> {
    return openAhead(this.client).then((channel) => {
      if (channel) {
        this.openChannels++;
        channel.on('error', () => undefined);
        channel.once('close', () => this.openChannels--);
      }
      return channel;
    });
  }

  /** Closes the channel opened ahead, giving its session back (the server's MaxSessions counts it). */
  private async dropSpare(): Promise<void> {
    const spare = this.spare;
    this.spare = undefined;
    const channel = await spare;
    if (!channel) return;
    // the server counts the session until both sides have closed it
    const closed = new Promise<void>((resolve) => {
      channel.once('close', () => resolve());
      setTimeout(resolve, 2_000).unref();
    });
    // ssh2 reports the close once the channel's streams have ended: nothing reads them otherwise
    channel.resume();
    channel.stderr.resume();
    channel.close();
    await closed;
  }

  private execOnNewChannel(command: string, what: string, pty?: PseudoTtyOptions, retried = false): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const lost = this.lost;
      if (lost) return reject(lost);
      if (this.closing) return reject(new ExecutorError(`cannot ${what}: the connection to VM ${this.where} is closed (the executor was torn down)`));
      try {
        this.client.exec(command, pty ? { pty } : {}, (error, channel) => {
          // the session held for the next command may be the one over the server's limit
          // (OpenSSH refuses a session past MaxSessions as "open failed")
          if (error && !retried && typeof (error as Error & { reason?: number }).reason === 'number') {
            this.dropSpare().then(() => resolve(this.execOnNewChannel(command, what, pty, true)), reject);
            return;
          }
          if (error) return reject(this.lost ?? this.channelFailure(error, what));
          this.openChannels++;
          channel.once('close', () => this.openChannels--);
          resolve(channel);
        });
      } catch (error) {
        reject(this.lost ?? new ExecutorError(`cannot ${what} on VM ${this.where}: ${messageOf(error)}`));
      }
    });
  }

  /** A TCP connection from the VM to `host:port` (a direct-tcpip channel, as `ssh -W` opens). */
  forward(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const lost = this.lost;
      if (lost) return reject(lost);
      if (this.closing) return reject(new ExecutorError(`cannot connect to ${host}:${port}: the connection to VM ${this.where} is closed (the executor was torn down)`));
      try {
        this.client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => {
          if (error) return reject(this.lost ?? new ExecutorError(`cannot connect to ${host}:${port} from VM ${this.where}: ${messageOf(error)}`));
          this.openChannels++;
          channel.once('close', () => this.openChannels--);
          resolve(channel);
        });
      } catch (error) {
        reject(this.lost ?? new ExecutorError(`cannot connect to ${host}:${port} from VM ${this.where}: ${messageOf(error)}`));
      }
    });
  }

  /** The connection's SFTP channel, opened on first use and kept; undefined when the server has none. */
  sftp(): Promise<SFTPWrapper | undefined> {
    this.sftpChannel ??= new Promise((resolve) => {
      try {
        this.client.sftp((error, sftp) => {
          if (error) return resolve(undefined);
          sftp.once('close', () => {
            this.sftpChannel = undefined;
          });
          resolve(sftp);
        });
      } catch {
        resolve(undefined);
      }
    });
    return this.sftpChannel;
  }

  /** Ends the connection. Commands without a terminal outlive it on the VM: kill them first. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => {
      this.client.once('close', () => resolve());
      setTimeout(resolve, 2_000).unref();
    });
    this.client.end();
    await closed;
    this.client.destroy();
  }

  private watch(): void {
    let firstError: Error | undefined;
    this.client.on('error', (error: Error) => {
      firstError ??= error;
    });
    this.client.once('close', () => {
      if (this.closing) return;
      // ssh2 closes the channels right after this: what ran on them reads the reason here
      this.lostReason = lossReason(firstError);
    });
  }

  private channelFailure(error: Error, what: string): ExecutorError {
    const reason = (error as Error & { reason?: number }).reason;
    if (reason === ADMINISTRATIVELY_PROHIBITED) {
      return new ExecutorError(
        `cannot ${what}: VM ${this.where} refused another SSH session (${this.openChannels} open on the job's connection); raise MaxSessions in the VM's sshd_config`,
      );
    }
    return new ExecutorError(`cannot ${what} on VM ${this.where}: ${messageOf(error)}`);
  }
}

/** How a session ended: its exit code, or the signal (`SIGTERM`) that killed it; neither when the VM sent no status. */
export interface SessionEnd {
  code?: number;
  signal?: string;
}

/**
 * Settles when the channel closes, which ssh2 signals only once its output has been read to the
 * end; rejects when the connection was lost. The status comes with the close event: an `exit`
 * event can fire while the channel is still being handed over, before anyone listens.
 */
export function sessionEnd(connection: VmConnection, channel: ClientChannel): Promise<SessionEnd> {
  const end = new Promise<SessionEnd>((resolve, reject) => {
    channel.on('error', () => undefined);
    channel.once('close', (code?: number | null, signal?: string) => {
      if (typeof code === 'number') return resolve({ code });
      if (signal) return resolve({ signal });
      const lost = connection.lost;
      if (lost) reject(lost);
      else resolve({});
    });
  });
  end.catch(() => undefined);
  return end;
}

function connectFailure(where: string, user: string, keyType: string, settings: ConnectionSettings, error: Error | undefined): ExecutorError {
  const message = messageOf(error ?? new Error('the connection closed during the handshake'));
  const level = (error as (Error & { level?: string }) | undefined)?.level;
  if (level === 'client-authentication') {
    return new ExecutorError(`VM ${where} refused the key of user ${user} (${message}); check the key its provider hands out`);
  }
  if (/no matching host key format/.test(message)) {
    return new ExecutorUnavailableError(`VM ${where} has no ${keyType} host key, the type of the key its provider reported; refusing to connect (another machine answers there, or the VM's host keys changed)`);
  }
  if (/Timed out while waiting for handshake/.test(message)) {
    return new ExecutorUnavailableError(`cannot connect to VM ${where}: no SSH handshake within ${settings.connectTimeoutMs / 1000} s; check that the VM is up and its sshd listens there`);
  }
  return new ExecutorUnavailableError(`cannot connect to VM ${where}: ${message}; check that the VM is up and its sshd listens there`);
}

function lossReason(error: Error | undefined): string {
  if (!error) return 'the VM closed it (sshd stopped, or the VM shut down)';
  if (/Keepalive timeout/.test(error.message)) return 'the VM stopped answering keepalives (crashed, frozen or cut off)';
  return messageOf(error);
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
}

/** The reported host key, or an ExecutorError saying the provider reported something unusable. */
function expectedHostKey(text: string, where: string): HostPublicKey {
  try {
    return parseHostKey(text);
  } catch (error) {
    throw new ExecutorError(`the host key reported for VM ${where} is unusable: ${error instanceof Error ? error.message : String(error)}; check the VM provider`);
  }
}
