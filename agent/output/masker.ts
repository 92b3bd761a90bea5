/**
 * Streaming secret masking with CircleCI's rules ("Secrets masking" in
 * https://circleci.com/docs/env-vars/): every occurrence of a project or context value is replaced
 * by `********` in job output; values shorter than 4 characters and `true`/`True`/`false`/`False`
 * are left alone.
 *
 * The masker works on bytes, so output that is not valid UTF-8 passes through byte-identical
 * everywhere no secret matched. Matching is leftmost-longest: scanning from the left, the first
 * position where any secret starts wins, and among secrets starting there the longest wins (for a
 * single secret this is exactly `replaceAll`).
 *
 * A secret split across chunks is still masked: at the end of a chunk only the bytes that could be
 * the beginning of a secret are held back (never more than `longestSecret - 1` bytes), so ordinary
 * output is released at once; `flush()` releases what is held back at the end of the stream.
 *
 * Speed: no per-byte JavaScript loop over the output. All secrets are compiled into one regular
 * expression (literal alternatives, longest first, so V8's native regexp engine finds the
 * leftmost-longest match in one pass) run over the chunk viewed as latin1, where one character is
 * one byte; that is several times faster than one `Buffer.indexOf` pass per secret.
 */

/** What a masked value is replaced with. */
export const MASK = '********';
const MASK_BYTES = Buffer.from(MASK, 'latin1');

/** Values CircleCI never masks: booleans would otherwise garble ordinary output. */
const NEVER_MASKED = new Set(['true', 'True', 'false', 'False']);

/** Whether CircleCI would mask this value: 4+ characters and not a boolean word. */
export function isMaskableSecret(value: string | Buffer): boolean {
  if (typeof value !== 'string') return value.length >= 4 && !NEVER_MASKED.has(value.toString('latin1'));
  // "characters": count code points, so a 2-letter value in a 4-byte script stays unmasked too
  let chars = 0;
  for (const _ of value) if (++chars >= 4) break;
  return chars >= 4 && !NEVER_MASKED.has(value);
}

interface ScanResult {
  pieces: Buffer[];
  /** where the undecided tail starts (the window length when nothing is held back) */
  holdFrom: number;
}

export class Masker {
  /** the distinct maskable secrets, as bytes, longest first */
  readonly secrets: readonly Buffer[];
  /** every secret as a literal alternative, longest first; undefined when nothing is masked */
  private readonly pattern: RegExp | undefined;
  private readonly longest: number;
  /** firstByte[b] = 1 when some secret starts with byte b (cheap filter for the tail check) */
  private readonly firstByte = new Uint8Array(256);
  /** bytes held back from the previous chunk because a secret may continue in the next one */
  private carry: Buffer = Buffer.alloc(0);

  constructor(secrets: Iterable<string | Buffer>) {
    const unique = new Map<string, Buffer>();
    for (const s of secrets) {
      if (!isMaskableSecret(s)) continue;
      const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
      unique.set(bytes.toString('latin1'), bytes);
    }
    this.secrets = [...unique.values()].sort((a, b) => b.length - a.length);
    this.longest = this.secrets.length ? this.secrets[0].length : 0;
    for (const secret of this.secrets) this.firstByte[secret[0]] = 1;
    // an alternation tries its alternatives in order, so longest first means longest match wins
    this.pattern = this.secrets.length ? new RegExp(this.secrets.map(literalPattern).join('|'), 'g') : undefined;
  }

  /** Bytes currently held back (at most the longest secret's length minus one). */
  get heldBack(): number {
    return this.carry.length;
  }

  /**
   * Masks the next chunk of a stream. Returns what can be released now; it may share memory with
   * `chunk`, and may be shorter than the input when the chunk ends with the start of a secret.
   */
  mask(chunk: Buffer): Buffer {
    if (!this.pattern) return chunk;
    const window = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    const { pieces, holdFrom } = this.scan(window, false);
    // copy: the caller may reuse its chunk buffer once we return
    this.carry = holdFrom < window.length ? Buffer.from(window.subarray(holdFrom)) : Buffer.alloc(0);
    return join(pieces);
  }

  /** Releases the held-back bytes at the end of the stream; the masker is then ready for a new stream. */
  flush(): Buffer {
    if (this.carry.length === 0) return Buffer.alloc(0);
    const window = this.carry;
    this.carry = Buffer.alloc(0);
    return join(this.scan(window, true).pieces);
  }

  /** One-shot masking of a whole buffer (does not touch the stream state). */
  maskBuffer(whole: Buffer): Buffer {
    if (!this.pattern) return whole;
    return join(this.scan(whole, true).pieces);
  }

  /** One-shot masking of a string (e.g. an environment value). */
  maskString(s: string): string {
    if (!this.pattern) return s;
    return this.maskBuffer(Buffer.from(s, 'utf8')).toString('utf8');
  }

  /**
   * Leftmost-longest replacement over `window`. Unless `final`, positions where a secret may
   * begin but runs past the end are undecided: scanning stops at the first of them.
   */
  private scan(window: Buffer, final: boolean): ScanResult {
    const pieces: Buffer[] = [];
    const undecided = final ? [] : this.partialStarts(window);
    const pattern = this.pattern as RegExp;
    const text = window.toString('latin1'); // one character per byte, so indexes are byte offsets
    let u = 0;
    let cursor = 0;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
      const at = m.index;
      while (u < undecided.length && undecided[u] < cursor) u++;
      if (u < undecided.length && undecided[u] <= at) break; // a longer secret may start here: wait for more bytes
      if (at > cursor) pieces.push(window.subarray(cursor, at));
      pieces.push(MASK_BYTES);
      cursor = at + m[0].length;
    }
    while (u < undecided.length && undecided[u] < cursor) u++;
    const holdFrom = u < undecided.length ? undecided[u] : window.length;
    if (holdFrom > cursor) pieces.push(window.subarray(cursor, holdFrom));
    return { pieces, holdFrom: Math.max(holdFrom, cursor) };
  }

  /** Ascending positions in the last `longest - 1` bytes where the rest of the window begins some secret. */
  private partialStarts(window: Buffer): number[] {
    const starts: number[] = [];
    const end = window.length;
    for (let p = Math.max(0, end - this.longest + 1); p < end; p++) {
      if (!this.firstByte[window[p]]) continue;
      const have = end - p;
      for (const s of this.secrets) {
        if (s.length <= have) break; // longest first: the rest are short enough to be decided now
        if (s.compare(window, p, end, 0, have) === 0) {
          starts.push(p);
          break;
        }
      }
    }
    return starts;
  }
}

/** A secret as a regexp matching exactly its bytes (seen as latin1 characters). */
function literalPattern(secret: Buffer): string {
  let out = '';
  for (const byte of secret) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9]/.test(c) ? c : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function join(pieces: Buffer[]): Buffer {
  if (pieces.length === 0) return Buffer.alloc(0);
  if (pieces.length > 1) return Buffer.concat(pieces);
  // never hand out the shared mask buffer itself: a consumer could write into it
  return pieces[0] === MASK_BYTES ? Buffer.from(MASK_BYTES) : pieces[0];
}
