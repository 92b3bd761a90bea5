/**
 * SSH into a job from the command line (`deckhand execute --ssh`), and the address a job's SSH
 * line shows when its assignment names none. What the flags give becomes the assignment's `ssh`
 * section: file references for the keys (the `~/.ssh/*.pub` of whoever runs deckhand unless
 * `--ssh-authorized-keys` says otherwise; public keys, so no secret), the port or range, the
 * durations. Only front ends read the machine (its home folder, its addresses).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import type { JobAssignment, SshSettings } from '../assignment/assignment.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../nomad/durations.js';

export interface SshFlags {
  ssh?: boolean;
  sshAuthorizedKeys?: string[];
  sshPort?: string;
  sshHost?: string;
  sshWait?: string;
  sshMaxHold?: string;
}

/** The `ssh` section the flags ask for; undefined without --ssh (other --ssh-* flags then are a usage error). */
export function sshFromFlags(flags: SshFlags, home: string = homedir()): SshSettings | undefined {
  const given = (['sshAuthorizedKeys', 'sshPort', 'sshHost', 'sshWait', 'sshMaxHold'] as const).filter((k) => (k === 'sshAuthorizedKeys' ? (flags[k]?.length ?? 0) > 0 : flags[k] !== undefined));
  if (!flags.ssh) {
    if (given.length > 0) throw new UsageError(`--${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} only applies with --ssh`);
    return undefined;
  }
  const keys = (flags.sshAuthorizedKeys ?? []).map((file) => {
    if (!existsSync(file)) throw new UsageError(`--ssh-authorized-keys ${file} does not exist`);
    return resolve(file);
  });
  return {
    enabled: true,
    authorizedKeys: keys.length > 0 ? keys : ownPublicKeys(home),
    ...(flags.sshPort !== undefined ? parsePorts(flags.sshPort) : {}),
    ...(flags.sshHost !== undefined ? { host: parseHost(flags.sshHost) } : {}),
    ...(flags.sshWait !== undefined ? { waitSeconds: parseDuration(flags.sshWait, '--ssh-wait') / 1000 } : {}),
    ...(flags.sshMaxHold !== undefined ? { maxHoldSeconds: parseDuration(flags.sshMaxHold, '--ssh-max-hold') / 1000 } : {}),
  };
}

/** `~/.ssh/*.pub` of the user running deckhand. */
function ownPublicKeys(home: string): string[] {
  const dir = join(home, '.ssh');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.pub')).sort();
  } catch {
    // no folder: said below
  }
  if (names.length === 0) throw new UsageError(`--ssh needs your public keys, and ${dir} has no *.pub file: make one with ssh-keygen -t ed25519, or give --ssh-authorized-keys FILE`);
  return names.map((name) => join(dir, name));
}

/** `P` or `FIRST-LAST`. */
export function parsePorts(text: string): Pick<SshSettings, 'port' | 'ports'> {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  const valid = (n: number): boolean => n >= 1 && n <= 65535;
  if (!m) throw new UsageError(`--ssh-port ${text}: expected a port (64535) or a range (64535-65535)`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (!valid(first) || !valid(last) || first > last) throw new UsageError(`--ssh-port ${text}: ports are 1 to 65535, the first of a range at most its last`);
  return first === last ? { port: first } : { ports: { first, last } };
}

export function parseHost(text: string): string {
  const host = text.trim();
  if (host === '' || /[\s@]/.test(host)) throw new UsageError(`--ssh-host ${JSON.stringify(text)}: expected a host name or an address, without a user`);
  return host;
}

/** The assignment with the machine's address in its SSH line when it names none. */
export function withSshHost(assignment: JobAssignment, host: () => string = localAddress): JobAssignment {
  if (!assignment.ssh?.enabled || assignment.ssh.host !== undefined) return assignment;
  return { ...assignment, ssh: { ...assignment.ssh, host: host() } };
}

/**
 * The address others reach this machine at, as well as the agent can tell: the IPv4 address of
 * the interface of the default route (Linux's /proc/net/route), else the first outside address
 * that is not a container bridge's, else loopback.
 */
export function localAddress(): string {
  const interfaces = networkInterfaces();
  const ipv4 = (name: string): string | undefined => interfaces[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
  try {
    const routes = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1);
    // Iface Destination Gateway …: the default route has destination 00000000
    const byDefault = routes.map((line) => line.trim().split(/\s+/)).find((fields) => fields[1] === '00000000');
    const found = byDefault ? ipv4(byDefault[0]) : undefined;
    if (found) return found;
  } catch {
    // not Linux: the interfaces alone
  }
  const outside = Object.keys(interfaces).filter((name) => !/^(docker|br-|veth|virbr|cni|flannel|lo)/.test(name));
  for (const name of outside) {
    const found = ipv4(name);
    if (found) return found;
  }
  return '127.0.0.1';
}
