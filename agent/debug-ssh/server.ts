/**
 * The SSH server of one job, for people debugging it: ssh2's protocol, a host key of the job's
 * own, public-key logins with the job's authorized keys and nothing else, and every session run
 * in the job (session.ts) or forwarded into it (`ssh -L`, forwarding.ts). Connections are
 * admitted before any cryptography (admission.ts); one that has not logged in within the grace
 * period is closed; logins, logouts and refusals go into the job's output, refusals counted
 * rather than listed once there are many.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import type { AuthContext, Connection, Server as SshServer } from 'ssh2';
import { ExecutorError } from '../executor/executor.js';
import { formatDuration } from '../nomad/durations.js';
import { Admission, DEFAULT_ADMISSION, type AdmissionLimits } from './admission.js';
import { fingerprintOf, type AuthorizedKey } from './authorized-keys.js';
import { serveForward } from './forwarding.js';
import { serveSession, type SessionTarget } from './session.js';

export interface DebugSshOptions {
  /** the job's host key: an OpenSSH private key (host-key.ts makes one per job) */
  hostKey: string;
  /** the only keys that may log in */
  keys: AuthorizedKey[];
  /** where sessions run */
  target: SessionTarget;
  /** a line for the job's output */
  log(line: string): void;
  /** a connection not logged in after this long is closed. Default 30 s. */
  loginGraceMs?: number;
  admission?: Partial<AdmissionLimits>;
  /** logged-in connections at once, at most. Default 32. */
  maxLogins?: number;
  /** session channels per connection at once (OpenSSH's MaxSessions). Default 10. */
  maxSessionsPerConnection?: number;
  /** `ssh -L` connections per connection at once. Default 64. */
  maxForwardsPerConnection?: number;
  /** authentication requests per connection, `none` aside (OpenSSH's MaxAuthTries). Default 6. */
  maxAuthTries?: number;
  /** refused logins written to the job's output per minute; the rest are counted. Default 20. */
  refusalLinesPerMinute?: number;
}

export interface Listening {
  port: number;
}

/** A connection as the server tracks it, from its TCP accept to its close. */
interface Peer {
  address: string;
  remote: string;
  socket: Socket;
  loggedIn: boolean;
  /** the login's user and key, once logged in */
  user?: string;
  key?: AuthorizedKey;
  since: number;
  authRequests: number;
  /** what the client tried, for the refusal line */
  tried: Set<string>;
  grace?: NodeJS.Timeout;
  /** hang-ups of what runs for this connection */
  running: Set<() => Promise<void>>;
  sessions: number;
  forwards: number;
  client?: Connection;
}

type Ssh2 = typeof import('ssh2');

export class DebugSshServer {
  private readonly net: NetServer;
  private readonly ssh: SshServer;
  private readonly admission: Admission;
  private readonly peers = new Map<string, Peer>();
  private readonly watchers = new Set<(sessions: number) => void>();
  private logins = 0;
  private closed = false;
  private refusalLines = { windowStart: 0, shown: 0, hidden: 0 };

  constructor(private readonly options: DebugSshOptions) {
    const ssh2 = createRequire(import.meta.url)('ssh2') as Ssh2;
    this.admission = new Admission({ ...DEFAULT_ADMISSION, ...options.admission });
    this.ssh = new ssh2.Server({ hostKeys: [options.hostKey], ident: 'Deckhand' }, (client, info) => this.connected(client, info.ip, info.port));
    this.ssh.on('error', () => undefined);
    this.net = createServer({ noDelay: true }, (socket) => this.accepted(socket));
  }

  /** Logged-in connections now. */
  get sessions(): number {
    return this.logins;
  }

  /** Calls `listener` whenever the number of logged-in connections changes; returns the unsubscribe. */
  watch(listener: (sessions: number) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  /**
   * Listens on the first port of `first`–`last` that is free (one port: first = last), on `host`
   * (all addresses when absent). Rejects with ExecutorError naming the range when none is.
   */
  async listen(first: number, last: number, host?: string): Promise<Listening> {
    let lastError: NodeJS.ErrnoException | undefined;
    for (let port = first; port <= last; port++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (error: Error): void => reject(error);
          this.net.once('error', onError);
          this.net.listen({ port, ...(host ? { host } : {}), exclusive: true }, () => {
            this.net.off('error', onError);
            resolve();
          });
        });
        this.net.on('error', () => undefined);
        return { port };
      } catch (error) {
        lastError = error as NodeJS.ErrnoException;
        if (lastError.code !== 'EADDRINUSE' && lastError.code !== 'EACCES') break;
      }
    }
    const where = `${host ?? 'all addresses'} port${first === last ? ` ${first}` : `s ${first}–${last}`}`;
    throw new ExecutorError(
      lastError?.code === 'EADDRINUSE'
        ? `cannot listen for SSH on ${where}: ${first === last ? 'the port is' : 'every port is'} in use; free one or give another port`
        : `cannot listen for SSH on ${where}: ${lastError?.message ?? 'unknown error'}`,
    );
  }

  /** Stops listening, hangs up every session and closes every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Promise<void>((resolve) => this.net.close(() => resolve()));
    const peers = [...this.peers.values()];
    await Promise.allSettled(peers.flatMap((peer) => [...peer.running].map((hangUp) => hangUp())));
    for (const peer of peers) {
      peer.client?.end();
      peer.socket.destroy();
    }
    await stopped;
  }

  private accepted(socket: Socket): void {
    socket.on('error', () => undefined);
    const address = plainAddress(socket.remoteAddress ?? 'unknown');
    if (this.closed) return void socket.destroy();
    const verdict = this.admission.admit(address);
    if (verdict !== 'admit') {
      // dropped before any byte: a flood costs a socket each, not a handshake
      socket.destroy();
      return;
    }
    const remote = `${address}:${socket.remotePort ?? 0}`;
    const peer: Peer = { address, remote, socket, loggedIn: false, since: Date.now(), authRequests: 0, tried: new Set(), running: new Set(), sessions: 0, forwards: 0 };
    this.peers.set(remote, peer);
    peer.grace = setTimeout(() => {
      peer.tried.add('no login within the grace period');
      socket.destroy();
    }, this.options.loginGraceMs ?? 30_000);
    peer.grace.unref();
    socket.once('close', () => this.disconnected(peer));
    this.ssh.injectSocket(socket);
  }

  private connected(client: Connection, ip: string, port: number): void {
    const peer = this.peers.get(`${plainAddress(ip)}:${port}`);
    client.on('error', () => undefined);
    if (!peer) return void client.end();
    peer.client = client;
    client.on('authentication', (ctx) => this.authenticate(peer, ctx));
    client.once('ready', () => this.loggedIn(peer));
    // what runs for the connection, hung up when it or the server closes
    const started = (hangUp: () => Promise<void>): (() => void) => {
      peer.running.add(hangUp);
      return () => peer.running.delete(hangUp);
    };
    client.on('session', (accept, reject) => {
      if (!peer.loggedIn || peer.sessions >= (this.options.maxSessionsPerConnection ?? 10)) return reject();
      const session = accept();
      peer.sessions++;
      session.once('close', () => peer.sessions--);
      serveSession(session, this.options.target, {
        log: (line) => this.options.log(line),
        started,
      });
    });
    client.on('tcpip', (accept, reject, info) => {
      if (!peer.loggedIn || peer.forwards >= (this.options.maxForwardsPerConnection ?? 64)) return reject();
      peer.forwards++;
      serveForward(this.options.target.executor, info, accept, reject, {
        log: (line) => this.options.log(line),
        ended: () => peer.forwards--,
        started,
      });
    });
  }

  private authenticate(peer: Peer, ctx: AuthContext): void {
    if (ctx.method === 'none') return ctx.reject(['publickey']);
    peer.authRequests++;
    if (peer.authRequests > (this.options.maxAuthTries ?? 6)) {
      peer.tried.add('too many authentication attempts');
      ctx.reject(['publickey']);
      peer.client?.end();
      return;
    }
    if (ctx.method !== 'publickey') {
      peer.tried.add(ctx.method === 'keyboard-interactive' ? 'keyboard-interactive' : ctx.method === 'password' ? 'a password' : ctx.method);
      return ctx.reject(['publickey']);
    }
    const key = this.options.keys.find((k) => k.blob.equals(ctx.key.data));
    if (!key) {
      peer.tried.add(`key ${fingerprintOf(ctx.key.data)}`);
      return ctx.reject(['publickey']);
    }
    // without a signature the client only asks whether the key would do
    if (!ctx.signature) return ctx.accept();
    if (ctx.blob === undefined || key.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
      peer.tried.add(`a bad signature of key ${key.fingerprint}`);
      return ctx.reject(['publickey']);
    }
    if (this.logins >= (this.options.maxLogins ?? 32)) {
      peer.tried.add('too many sessions open');
      return ctx.reject(['publickey']);
    }
    peer.user = ctx.username;
    peer.key = key;
    ctx.accept();
  }

  private loggedIn(peer: Peer): void {
    if (peer.loggedIn || !peer.key) return;
    peer.loggedIn = true;
    clearTimeout(peer.grace);
    this.admission.settled();
    this.logins++;
    this.options.log(`SSH: ${peer.user ?? ''} logged in from ${peer.remote} with ${keyName(peer.key.type)} key ${peer.key.fingerprint}`);
    this.changed();
  }

  private disconnected(peer: Peer): void {
    clearTimeout(peer.grace);
    this.peers.delete(peer.remote);
    for (const hangUp of peer.running) void hangUp().catch(() => undefined);
    if (peer.loggedIn) {
      this.logins--;
      this.options.log(`SSH: ${peer.user ?? ''} from ${peer.remote} logged out after ${duration(Date.now() - peer.since)}`);
      this.changed();
      return;
    }
    this.admission.settled();
    if (this.closed) return;
    const penalised = this.admission.failed(peer.address);
    this.refused(`SSH: refused ${peer.remote}${peer.tried.size > 0 ? ` (${[...peer.tried].slice(0, 4).join(', ')})` : ' (no login)'}`);
    if (penalised) this.options.log(`SSH: refusing every connection from ${peer.address} for ${duration(this.penaltyMs())} after repeated failed logins`);
  }

  /** A refusal line, unless the minute's share is spent: then it is counted and told later. */
  private refused(line: string): void {
    const now = Date.now();
    const r = this.refusalLines;
    if (now - r.windowStart >= 60_000) {
      if (r.hidden > 0) this.options.log(`SSH: ${r.hidden} more refused connection${r.hidden === 1 ? '' : 's'} in the last minute`);
      this.refusalLines = { windowStart: now, shown: 0, hidden: 0 };
    }
    if (this.refusalLines.shown < (this.options.refusalLinesPerMinute ?? 20)) {
      this.refusalLines.shown++;
      this.options.log(line);
    } else this.refusalLines.hidden++;
  }

  private penaltyMs(): number {
    return this.options.admission?.penaltyMs ?? DEFAULT_ADMISSION.penaltyMs;
  }

  private changed(): void {
    for (const watcher of this.watchers) watcher(this.logins);
  }
}

/** An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d: the a.b.c.d. */
function plainAddress(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

/** Whole seconds, as Go writes durations (`0s`, `1m52s`). */
function duration(ms: number): string {
  return formatDuration(Math.round(ms / 1000) * 1000);
}

function keyName(type: string): string {
  if (type === 'ssh-ed25519') return 'ED25519';
  if (type === 'ssh-rsa') return 'RSA';
  if (type.startsWith('ecdsa-')) return 'ECDSA';
  return type;
}
