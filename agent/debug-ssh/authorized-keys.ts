/**
 * The public keys that may log into a job: OpenSSH `authorized_keys` lines or `*.pub` files
 * (`ssh-ed25519 AAAA… comment`), read from the files the assignment names when the job starts.
 * A line with options before its key (`from="…"`, `command="…"`) is skipped and said so:
 * honouring only part of what it restricts would grant more than it says.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ParsedKey } from 'ssh2';
import { UsageError } from '../errors.js';

export interface AuthorizedKey {
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`… */
  type: string;
  /** the public key blob, as a client offers it */
  blob: Buffer;
  /** `SHA256:…`, as `ssh-keygen -l` prints it */
  fingerprint: string;
  /** where it was read: `FILE:LINE` */
  source: string;
  /** checks a client's signature */
  key: ParsedKey;
}

export interface AuthorizedKeys {
  keys: AuthorizedKey[];
  /** lines not used, one line each: where and why */
  skipped: string[];
}

const TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|ssh-dss|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

let ssh2: typeof import('ssh2') | undefined;

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The keys of authorized_keys-format `text`; `file` names it in what is skipped. */
export function parseAuthorizedKeys(text: string, file: string): AuthorizedKeys {
  ssh2 ??= createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  const { utils } = ssh2;
  const keys: AuthorizedKey[] = [];
  const skipped: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${i + 1}`;
    const words = line.split(/\s+/);
    const at = words.findIndex((w) => TYPES.test(w));
    if (at < 0) return void skipped.push(`${where}: not a public key line ("${line.slice(0, 30)}…")`);
    if (at > 0) return void skipped.push(`${where}: key options (${words[0].slice(0, 30)}) are not supported; list the key without them`);
    const type = words[0];
    if (type.startsWith('sk-') || type === 'ssh-dss') return void skipped.push(`${where}: ${type} keys are not supported; use an ed25519, ECDSA or RSA key`);
    const parsed = utils.parseKey(`${type} ${words[1] ?? ''}`);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key === undefined || key instanceof Error) return void skipped.push(`${where}: the ${type} key cannot be read (${key instanceof Error ? key.message : 'empty'})`);
    const blob = key.getPublicSSH();
    keys.push({ type, blob, fingerprint: fingerprintOf(blob), source: where, key });
  });
  return { keys, skipped };
}

/**
 * The keys of every file, then of the inline `lines` (an assignment's authorizedKeyLines), in
 * order, without duplicates; an unreadable file or no key at all is an input error.
 */
export function readAuthorizedKeys(files: string[], lines: string[] = []): AuthorizedKeys {
  const keys: AuthorizedKey[] = [];
  const skipped: string[] = [];
  const take = (found: AuthorizedKeys): void => {
    for (const key of found.keys) if (!keys.some((k) => k.blob.equals(key.blob))) keys.push(key);
    skipped.push(...found.skipped);
  };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`the SSH authorized keys are read from ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path and its permissions`);
    }
    take(parseAuthorizedKeys(text, file));
  }
  // one line per item: a line break inside an item would smuggle in a second key unseen
  if (lines.length > 0) take(parseAuthorizedKeys(lines.map((l) => l.replace(/[\r\n]+/g, ' ')).join('\n'), 'ssh.authorizedKeyLines'));
  if (keys.length === 0) {
    const where = [...files, ...(lines.length > 0 ? ['ssh.authorizedKeyLines'] : [])].join(', ') || 'the SSH settings';
    throw new UsageError(`no usable public key in ${where}${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}; give OpenSSH public keys (ssh-ed25519 AAAA…)`);
  }
  return { keys, skipped };
}
