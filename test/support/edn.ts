/**
 * A small EDN reader for third-party test data (the CircleCI-Public/expr corpus). Supports maps,
 * vectors, lists, sets, strings with escapes, integers and floats (signed), keywords, symbols,
 * characters, nil/true/false, `;` comments, `#_` discard and tagged literals (`#tag value`).
 *
 * Keywords are interned, so `map.get(kw('name'))` finds a `:name` key.
 */

export class EdnKeyword {
  private static readonly interned = new Map<string, EdnKeyword>();
  private constructor(readonly name: string) {}
  static of(name: string): EdnKeyword {
    let k = EdnKeyword.interned.get(name);
    if (!k) {
      k = new EdnKeyword(name);
      EdnKeyword.interned.set(name, k);
    }
    return k;
  }
  toString(): string {
    return `:${this.name}`;
  }
}

export class EdnSymbol {
  constructor(readonly name: string) {}
}

export class EdnTagged {
  constructor(
    readonly tag: string,
    readonly value: EdnValue,
  ) {}
}

export class EdnChar {
  constructor(readonly char: string) {}
}

export type EdnValue =
  | string
  | number
  | boolean
  | null
  | EdnKeyword
  | EdnSymbol
  | EdnTagged
  | EdnChar
  | EdnValue[]
  | Set<EdnValue>
  | Map<EdnValue, EdnValue>;

export const kw = (name: string): EdnKeyword => EdnKeyword.of(name);

export class EdnSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`EDN: ${message} at offset ${offset}`);
    this.name = 'EdnSyntaxError';
  }
}

/** Reads every top-level form in `text`. */
export function readEdnAll(text: string): EdnValue[] {
  const r = new Reader(text);
  const out: EdnValue[] = [];
  for (;;) {
    const v = r.read();
    if (v === END) return out;
    out.push(v);
  }
}

/** Reads exactly one form. */
export function readEdn(text: string): EdnValue {
  const all = readEdnAll(text);
  if (all.length !== 1) throw new EdnSyntaxError(`expected one form, found ${all.length}`, 0);
  return all[0];
}

const END = Symbol('end');
const CLOSE = Symbol('close');

const DELIMITERS = new Set(['(', ')', '[', ']', '{', '}', '"', ';', ',']);
const CHAR_NAMES: Record<string, string> = { newline: '\n', return: '\r', space: ' ', tab: '\t', formfeed: '\f', backspace: '\b' };

class Reader {
  private i = 0;
  private closer: string | undefined;

  constructor(private readonly s: string) {}

  read(): EdnValue | typeof END {
    const v = this.form();
    if (v === CLOSE) throw new EdnSyntaxError(`unexpected "${this.s[this.i - 1]}"`, this.i - 1);
    return v;
  }

  private skipSpace(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === ';') {
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
      } else if (c === ' ' || c === ',' || c === '\n' || c === '\r' || c === '\t' || c === '\f') {
        this.i++;
      } else return;
    }
  }

  /** One form; END at end of input; CLOSE when the closing delimiter `closer` was consumed. */
  private form(): EdnValue | typeof END | typeof CLOSE {
    this.skipSpace();
    const s = this.s;
    if (this.i >= s.length) return END;
    const start = this.i;
    const c = s[this.i];
    switch (c) {
      case '"':
        return this.string();
      case '[':
        this.i++;
        return this.seq(']');
      case '(':
        this.i++;
        return this.seq(')');
      case '{': {
        this.i++;
        const items = this.seq('}');
        if (items.length % 2 !== 0) throw new EdnSyntaxError('a map needs an even number of forms', start);
        const m = new Map<EdnValue, EdnValue>();
        for (let k = 0; k < items.length; k += 2) m.set(items[k], items[k + 1]);
        return m;
      }
      case ']':
      case ')':
      case '}':
        this.i++;
        if (c !== this.closer) throw new EdnSyntaxError(`unexpected "${c}"`, start);
        return CLOSE;
      case '\\':
        return this.char();
      case '#': {
        const n = s[this.i + 1];
        if (n === '{') {
          this.i += 2;
          return new Set(this.seq('}'));
        }
        if (n === '_') {
          this.i += 2;
          const discarded = this.form();
          if (discarded === END || discarded === CLOSE) throw new EdnSyntaxError('#_ needs a form to discard', start);
          return this.form();
        }
        this.i++;
        const tag = this.token();
        const value = this.form();
        if (value === END || value === CLOSE) throw new EdnSyntaxError(`tag #${tag} needs a value`, start);
        return new EdnTagged(tag, value);
      }
      default:
        return this.atom(this.token(), start);
    }
  }

  private seq(close: string): EdnValue[] {
    const start = this.i - 1;
    const saved = this.closer;
    this.closer = close;
    const out: EdnValue[] = [];
    for (;;) {
      const v = this.form();
      if (v === CLOSE) break;
      if (v === END) throw new EdnSyntaxError(`no closing "${close}"`, start);
      out.push(v);
    }
    this.closer = saved;
    return out;
  }

  private token(): string {
    const start = this.i;
    while (this.i < this.s.length && !DELIMITERS.has(this.s[this.i]) && !/\s/.test(this.s[this.i])) this.i++;
    return this.s.slice(start, this.i);
  }

  private atom(t: string, start: number): EdnValue {
    if (t === '') throw new EdnSyntaxError('expected a form', start);
    if (t === 'nil') return null;
    if (t === 'true') return true;
    if (t === 'false') return false;
    if (t.startsWith(':')) {
      if (t.length === 1) throw new EdnSyntaxError('empty keyword', start);
      return kw(t.slice(1));
    }
    if (/^[+-]?\d+N?$/.test(t)) {
      return Number(t.replace(/N$/, ''));
    }
    if (/^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$/.test(t)) return Number(t.replace(/M$/, ''));
    if (/^[+-]?\d/.test(t)) throw new EdnSyntaxError(`invalid number "${t}"`, start);
    return new EdnSymbol(t);
  }

  private char(): EdnValue {
    const start = this.i;
    this.i++;
    const first = this.s[this.i];
    if (first === undefined) throw new EdnSyntaxError('character literal at end of input', start);
    this.i++;
    // a single character, unless letters follow (a named or \uXXXX character)
    while (this.i < this.s.length && /[A-Za-z0-9]/.test(this.s[this.i]) && /[A-Za-z]/.test(first)) this.i++;
    const name = this.s.slice(start + 1, this.i);
    if (name.length === 1) return new EdnChar(name);
    if (CHAR_NAMES[name]) return new EdnChar(CHAR_NAMES[name]);
    if (/^u[0-9A-Fa-f]{4}$/.test(name)) return new EdnChar(String.fromCharCode(parseInt(name.slice(1), 16)));
    throw new EdnSyntaxError(`unknown character \\${name}`, start);
  }

  private string(): string {
    const start = this.i;
    const s = this.s;
    this.i++;
    let out = '';
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === '\\') {
        const e = s[this.i + 1];
        this.i += 2;
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case 'u': {
            const hex = s.slice(this.i, this.i + 4);
            if (!/^[0-9A-Fa-f]{4}$/.test(hex)) throw new EdnSyntaxError('bad \\u escape', this.i - 2);
            out += String.fromCharCode(parseInt(hex, 16));
            this.i += 4;
            break;
          }
          default:
            throw new EdnSyntaxError(`unknown string escape \\${e ?? ''}`, this.i - 2);
        }
        continue;
      }
      out += c;
      this.i++;
    }
    throw new EdnSyntaxError('unterminated string', start);
  }
}
