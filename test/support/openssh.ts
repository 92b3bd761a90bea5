/**
 * The OpenSSH tools people type, for the tests of SSH into builds: keys made with ssh-keygen,
 * `ssh`, `scp` and `sftp` run as child processes with a known_hosts file that holds only the
 * job's host key (so a wrong key fails the test rather than being trusted), and a terminal of
 * tmux's to drive an interactive session: type, read the screen, resize.
 * scripts/ensure-test-tools.sh installs openssh-client and tmux.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ClientKey {
  /** private key file */
  path: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
  /** the .pub file */
  publicPath: string;
  /** `SHA256:…` as ssh-keygen -l prints it */
  fingerprint: string;
}

/** A fresh ed25519 key pair of ssh-keygen's, without a passphrase, in a folder of its own. */
export function clientKey(name = 'id_ed25519', type = 'ed25519'): ClientKey {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-ssh-key-'));
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `deckhand-test-${name}`, '-f', path], { stdio: 'pipe' });
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' }).split(/\s+/)[1] ?? '';
  return { path, publicKey: readFileSync(`${path}.pub`, 'utf8').trim(), publicPath: `${path}.pub`, fingerprint };
}

export interface Endpoint {
  host: string;
  port: number;
  /** the server's host key line (`ssh-ed25519 AAAA…`): the only one known_hosts trusts */
  hostKey: string;
  user?: string;
}

/** Options every client here runs with: this key only, no agent, no prompts, the host key checked. */
export function clientOptions(endpoint: Endpoint, key: ClientKey | undefined): string[] {
  const knownHosts = join(mkdtempSync(join(tmpdir(), 'deckhand-known-hosts-')), 'known_hosts');
  writeFileSync(knownHosts, `[${endpoint.host}]:${endpoint.port} ${endpoint.hostKey}\n`);
  return [
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=10',
    '-o', 'LogLevel=ERROR',
    ...(key ? ['-i', key.path] : ['-o', 'PubkeyAuthentication=no']),
  ];
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program to its end (bounded by `timeoutMs`), with `input` on its stdin. */
export function run(program: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number; cwd?: string } = {}): Promise<Ran> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - t0 });
    });
  });
}

/** `ssh [options] USER@HOST COMMAND…`, run to its end. */
export function ssh(endpoint: Endpoint, key: ClientKey | undefined, command: string[], extra: string[] = [], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<Ran> {
  return run('ssh', [...clientOptions(endpoint, key), '-p', String(endpoint.port), ...extra, `${endpoint.user ?? 'root'}@${endpoint.host}`, ...command], opts);
}

/** A long-lived `ssh` (a session kept open, a forward): stopped with stop(). */
export function sshProcess(endpoint: Endpoint, key: ClientKey, extra: string[], command: string[] = []): { child: ChildProcess; output(): string; stop(): Promise<number | null>; exited: Promise<number | null> } {
  const child = spawn('ssh', [...clientOptions(endpoint, key), '-p', String(endpoint.port), ...extra, `${endpoint.user ?? 'root'}@${endpoint.host}`, ...command], { stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** `scp` with the same options (`-P` for its port); `-O` in `extra` for the old scp protocol. */
export function scp(endpoint: Endpoint, key: ClientKey, from: string, to: string, extra: string[] = []): Promise<Ran> {
  return run('scp', [...clientOptions(endpoint, key), '-P', String(endpoint.port), ...extra, from, to], { timeoutMs: 120_000 });
}

/** `sftp -b -` with a batch of commands. */
export function sftp(endpoint: Endpoint, key: ClientKey, batch: string[]): Promise<Ran> {
  return run('sftp', [...clientOptions(endpoint, key), '-P', String(endpoint.port), '-b', '-', `${endpoint.user ?? 'root'}@${endpoint.host}`], { input: `${batch.join('\n')}\n`, timeoutMs: 120_000 });
}

/** A remote spec for scp: `USER@[HOST]:PATH`. */
export function remote(endpoint: Endpoint, path: string): string {
  return `${endpoint.user ?? 'root'}@${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${path}`;
}

/** `ssh -t` to the endpoint's user, in a fresh tmux terminal of `size`. */
export function sshTerminal(endpoint: Endpoint, key: ClientKey, size?: { columns: number; rows: number }): Promise<Terminal> {
  return Terminal.start(['ssh', ...clientOptions(endpoint, key), '-t', '-p', String(endpoint.port), `${endpoint.user ?? 'root'}@${endpoint.host}`], size);
}

/**
 * A terminal of tmux's (a server of its own, on a socket no other test uses) running one command:
 * what a person sees and types. The pane stays after the command exits, with its exit status.
 */
export class Terminal {
  private readonly socket = `deckhand-test-${randomBytes(4).toString('hex')}`;

  private constructor() {}

  static async start(command: string[], size: { columns: number; rows: number } = { columns: 100, rows: 30 }): Promise<Terminal> {
    const terminal = new Terminal();
    const line = `${command.map(quote).join(' ')}; echo "[exited $?]"`;
    terminal.tmux('new-session', '-d', '-s', 't', '-x', String(size.columns), '-y', String(size.rows));
    terminal.tmux('set-option', '-t', 't', 'remain-on-exit', 'on');
    terminal.tmux('respawn-pane', '-k', '-t', 't', line);
    return terminal;
  }

  /** Types `text` as keys (no Enter unless `enter`). */
  type(text: string, enter = true): void {
    this.tmux('send-keys', '-t', 't', '-l', text);
    if (enter) this.tmux('send-keys', '-t', 't', 'Enter');
  }

  /** tmux key names: `C-c`, `C-d`, `Enter`. */
  keys(...names: string[]): void {
    this.tmux('send-keys', '-t', 't', ...names);
  }

  /** What the screen shows now, trailing blank lines dropped. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-t', 't').replace(/\n+$/, '');
  }

  /** Waits until the screen matches `pattern`; fails with what it shows after `ms`. */
  async waitFor(pattern: RegExp, ms = 20_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const shown = this.screen();
      if (pattern.test(shown)) return shown;
      if (Date.now() > deadline) throw new Error(`the terminal did not show ${pattern} within ${ms} ms; it shows:\n${shown}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  resize(columns: number, rows: number): void {
    this.tmux('resize-window', '-t', 't', '-x', String(columns), '-y', String(rows));
  }

  /** Ends tmux's server and whatever still runs in it. Idempotent. */
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // gone already
    }
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }
}

function quote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
