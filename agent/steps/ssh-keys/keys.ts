// Private SSH keys on this machine and their fingerprints, as CircleCI names
// keys: MD5 (`aa:bb:…`, what CircleCI Server shows) or `SHA256:…` of the
// public key blob — the same values `ssh-keygen -l` prints.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { ParsedKey } from 'ssh2';

/** ssh2 is loaded when a key is parsed, not when a job starts (it costs ~100 ms to load). */
let ssh2: typeof import('ssh2') | undefined;
function ssh2Utils(): (typeof import('ssh2'))['utils'] {
  ssh2 ??= createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  return ssh2.utils;
}

export interface PrivateKey {
  /** where it came from, for messages */
  source: string;
  /** e.g. `ssh-ed25519`, `ssh-rsa` */
  type: string;
  /** `aa:bb:…` (16 bytes) */
  md5: string;
  /** `SHA256:` + unpadded base64 */
  sha256: string;
  /** the file's bytes, to install as they are */
  material: Buffer;
}

export interface KeysFolder {
  keys: PrivateKey[];
  /** files that are not usable private keys, with why (one line each) */
  skipped: string[];
  /** false when the folder does not exist */
  found: boolean;
}

/** Parses one private key; a string saying why when it is not one. */
export function parsePrivateKey(material: Buffer, source: string): PrivateKey | string {
  const parsed = ssh2Utils().parseKey(material) as ParsedKey | ParsedKey[] | Error;
  if (parsed instanceof Error) {
    return /encrypted/i.test(parsed.message)
      ? 'is encrypted; keys for jobs cannot have a passphrase'
      : `is not a private key (${parsed.message.replace(/\s+/g, ' ')})`;
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) return 'holds no key';
  if (!key.isPrivateKey()) return 'is a public key, not a private key';
  const blob = key.getPublicSSH();
  const md5 = createHash('md5').update(blob).digest('hex').replace(/(..)(?!$)/g, '$1:');
  const sha256 = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  return { source, type: key.type, md5, sha256, material };
}

/** Reads every private key of a folder (one per file; `*.pub` and hidden files are ignored). */
export async function readKeysFolder(folder: string): Promise<KeysFolder> {
  let names: string[];
  try {
    names = (await readdir(folder, { withFileTypes: true })).filter((entry) => entry.isFile() || entry.isSymbolicLink()).map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Error && 'code' in error && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return { keys: [], skipped: [], found: false };
    throw error;
  }
  names.sort();
  const keys: PrivateKey[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    if (name.startsWith('.') || name.endsWith('.pub')) continue;
    const file = path.join(folder, name);
    const parsed = parsePrivateKey(await readFile(file), file);
    if (typeof parsed === 'string') skipped.push(`${file} ${parsed}`);
    else if (!keys.some((key) => key.sha256 === parsed.sha256)) keys.push(parsed);
  }
  return { keys, skipped, found: true };
}

/** Whether `requested` (as written in the config) names `key`. */
export function matchesFingerprint(requested: string, key: PrivateKey): boolean {
  const wanted = requested.trim();
  if (/^sha256:/i.test(wanted)) return wanted.slice('sha256:'.length).replace(/=+$/, '') === key.sha256.slice('SHA256:'.length);
  // MD5, with or without ssh-keygen's `MD5:` prefix; hex is case-insensitive.
  return wanted.replace(/^md5:/i, '').toLowerCase() === key.md5;
}

/** The file name CircleCI gives an installed key: `id_rsa_` + the MD5 fingerprint without colons. */
export function installedKeyName(key: PrivateKey): string {
  return `id_rsa_${key.md5.replace(/:/g, '')}`;
}
