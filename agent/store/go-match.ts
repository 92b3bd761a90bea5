/**
 * Go's `path/filepath.Match` (Unix rules), which CircleCI applies to `persist_to_workspace`
 * paths: `*` any run of characters but `/`, `?` one character but `/`, `[abc]`, `[a-z]`,
 * `[^…]` classes, `\` escapes the next character. A malformed pattern is an error even when an
 * earlier part already failed to match, as in Go. A straight port of Go's scanChunk/matchChunk/
 * getEsc, on code points rather than bytes.
 */

export class BadPatternError extends Error {
  override readonly name = 'BadPatternError';
  constructor(readonly pattern: string) {
    super(`syntax error in pattern "${pattern}" (Go filepath.Match rules: *, ?, [class], [^class], \\ escapes)`);
  }
}

type Chars = string[];

/** Whether `name` matches `pattern`; throws BadPatternError for a malformed pattern. */
export function goMatch(pattern: string, name: string): boolean {
  const bad = (): never => {
    throw new BadPatternError(pattern);
  };
  let p: Chars = Array.from(pattern);
  let s: Chars = Array.from(name);
  outer: while (p.length > 0) {
    const [star, chunk, rest] = scanChunk(p);
    p = rest;
    if (star && chunk.length === 0) return !s.includes('/');
    const first = matchChunk(chunk, s, bad);
    if (first !== undefined && (first.length === 0 || p.length > 0)) {
      s = first;
      continue;
    }
    if (star) {
      for (let i = 0; i < s.length && s[i] !== '/'; i++) {
        const t = matchChunk(chunk, s.slice(i + 1), bad);
        if (t !== undefined) {
          // a last chunk must consume the whole name
          if (p.length === 0 && t.length > 0) continue;
          s = t;
          continue outer;
        }
      }
    }
    // no match: the rest of the pattern must still be well-formed
    while (p.length > 0) {
      const [, c, r] = scanChunk(p);
      p = r;
      matchChunk(c, [], bad);
    }
    return false;
  }
  return s.length === 0;
}

/** Whether `pattern` has any of Go's glob metacharacters (otherwise it names one path). */
export function hasMeta(pattern: string): boolean {
  return /[*?[\\]/.test(pattern);
}

function scanChunk(pattern: Chars): [boolean, Chars, Chars] {
  let p = pattern;
  let star = false;
  while (p.length > 0 && p[0] === '*') {
    p = p.slice(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case '\\':
        if (i + 1 < p.length) i++;
        break;
      case '[':
        inRange = true;
        break;
      case ']':
        inRange = false;
        break;
      case '*':
        if (!inRange) break scan;
        break;
    }
  }
  return [star, p.slice(0, i), p.slice(i)];
}

/** The rest of `s` after `chunk` matched its start, or undefined. */
function matchChunk(chunk: Chars, s: Chars, bad: () => never): Chars | undefined {
  let c = chunk;
  let rest = s;
  let failed = false;
  while (c.length > 0) {
    if (!failed && rest.length === 0) failed = true;
    switch (c[0]) {
      case '[': {
        let r = '';
        if (!failed) {
          r = rest[0];
          rest = rest.slice(1);
        }
        c = c.slice(1);
        let negated = false;
        if (c.length > 0 && c[0] === '^') {
          negated = true;
          c = c.slice(1);
        }
        let match = false;
        let ranges = 0;
        for (;;) {
          if (c.length > 0 && c[0] === ']' && ranges > 0) {
            c = c.slice(1);
            break;
          }
          const [lo, afterLo] = getEsc(c, bad);
          c = afterLo;
          let hi = lo;
          if (c[0] === '-') [hi, c] = getEsc(c.slice(1), bad);
          if (!failed && cp(lo) <= cp(r) && cp(r) <= cp(hi)) match = true;
          ranges++;
        }
        if (match === negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (rest[0] === '/') failed = true;
          rest = rest.slice(1);
        }
        c = c.slice(1);
        break;
      default:
        // an escaped character matches itself
        if (c[0] === '\\') {
          c = c.slice(1);
          if (c.length === 0) bad();
        }
        if (!failed) {
          if (c[0] !== rest[0]) failed = true;
          rest = rest.slice(1);
        }
        c = c.slice(1);
    }
  }
  return failed ? undefined : rest;
}

function cp(ch: string): number {
  return ch.codePointAt(0) ?? 0;
}

/** One possibly escaped character of a class, and what follows it. */
function getEsc(chunk: Chars, bad: () => never): [string, Chars] {
  let c = chunk;
  if (c.length === 0 || c[0] === '-' || c[0] === ']') bad();
  if (c[0] === '\\') {
    c = c.slice(1);
    if (c.length === 0) bad();
  }
  const r = c[0];
  const next = c.slice(1);
  if (next.length === 0) bad();
  return [r, next];
}
