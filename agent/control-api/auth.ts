/**
 * Bearer tokens with scopes. The tokens file (DATA/tokens unless --tokens names another) holds one
 * `SCOPE SHA256-HEX [NAME]` line per token: only digests are stored, so the file leaks no token.
 * A presented token is hashed and compared with every digest in constant time; the file is read
 * again when it changes, so `deckhand serve token` takes effect without a restart.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

/** read < submit < admin: each scope can do what the ones before it can. */
export type Scope = 'read' | 'submit' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'submit', 'admin'];

export interface Caller {
  /** the token's name, or the first 8 hex digits of its digest */
  id: string;
  scope: Scope;
}

interface Entry {
  scope: Scope;
  digest: Buffer;
  name: string;
}

export type AuthOutcome = { ok: true; caller: Caller } | { ok: false; status: 401 | 403; reason: string; caller?: Caller };

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class TokenFile {
  private entries: Entry[] = [];
  private seen = '';
  private checkedAt = 0;

  constructor(private readonly file: string) {
    this.reload();
  }

  /** Checks an Authorization header against the scope a route needs. */
  check(header: string | undefined, needed: Scope): AuthOutcome {
    this.reload();
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!header) return { ok: false, status: 401, reason: 'no token: send Authorization: Bearer TOKEN (deckhand serve token --data DIR --scope read|submit|admin makes one)' };
    if (!match) return { ok: false, status: 401, reason: 'the Authorization header is not "Bearer TOKEN"' };
    const digest = digestOf(match[1]);
    let found = this.find(digest);
    if (!found) {
      // a token made a moment ago: look at the file now rather than within the second
      this.checkedAt = 0;
      this.reload();
      found = this.find(digest);
    }
    if (!found) return { ok: false, status: 401, reason: 'unknown token: it is not in the tokens file (make one with deckhand serve token)' };
    const caller = { id: found.name, scope: found.scope };
    if (SCOPES.indexOf(found.scope) < SCOPES.indexOf(needed)) return { ok: false, status: 403, reason: `this token has scope ${found.scope}; this route needs ${needed}`, caller };
    return { ok: true, caller };
  }

  /** every entry is compared, so the time taken says nothing about which one matched */
  private find(digest: Buffer): Entry | undefined {
    let found: Entry | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, digest) && !found) found = e;
    return found;
  }

  private reload(): void {
    // a status poller sends many requests a second: the file is looked at once a second at most
    const now = Date.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    let stamp: string;
    try {
      const s = statSync(this.file);
      stamp = `${s.mtimeMs}:${s.size}`;
    } catch {
      this.entries = [];
      this.seen = '';
      return;
    }
    if (stamp === this.seen) return;
    this.entries = parseTokens(readFileSync(this.file, 'utf8'), this.file);
    this.seen = stamp;
  }
}

function parseTokens(text: string, file: string): Entry[] {
  const entries: Entry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [scope, hex, name] = line.split(/\s+/);
    if (!SCOPES.includes(scope as Scope) || !/^[0-9a-f]{64}$/.test(hex ?? '')) throw new UsageError(`${file}:${i + 1}: expected "read|submit|admin SHA256-HEX [NAME]"`);
    entries.push({ scope: scope as Scope, digest: Buffer.from(hex, 'hex'), name: name ?? hex.slice(0, 8) });
  });
  return entries;
}

/** Makes a token of `scope`, appends its digest to the file, and returns the token (shown once). */
export function addToken(file: string, scope: Scope, name?: string): string {
  if (!SCOPES.includes(scope)) throw new UsageError(`--scope ${scope}: use read, submit or admin`);
  if (name !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new UsageError(`--name ${name}: use 1-64 letters, digits, '.', '_' or '-'`);
  const token = `dh_${randomBytes(24).toString('base64url')}`;
  const hex = digestOf(token).toString('hex');
  appendFileSync(file, `${scope} ${hex}${name ? ` ${name}` : ''}\n`, { mode: 0o600 });
  return token;
}
