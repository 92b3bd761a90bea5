/**
 * Regular expressions written in CircleCI's dialects, run with JavaScript's engine.
 *
 * Two dialects reach us: RE2 (the `matches /…/` operator of expressions) and Java (the `matches`
 * logic statement and deprecated branch/tag filters). Both must match the WHOLE string. We translate
 * the common constructs JavaScript spells differently — leading inline flags `(?i)`, `\A` `\z` `\Z`,
 * `\Q…\E`, POSIX classes `[[:alpha:]]`, RE2's `(?P<name>…)`, and escaped punctuation (which
 * JavaScript's `u` mode rejects) — and report anything else JavaScript cannot compile as invalid.
 */

export type PatternDialect = 're2' | 'java';

export type PatternProblemKind = 'INVALID_PATTERN' | 'INVALID_PATTERN_CHARACTER' | 'PATTERN_TOO_LONG';

/** Why a pattern was refused, and where in the pattern text (0-based). */
export class PatternProblem extends Error {
  constructor(
    readonly kind: PatternProblemKind,
    readonly offset: number,
    /** the text at fault: one character, or '' for the pattern as a whole */
    readonly lexeme: string,
    message: string,
  ) {
    super(message);
    this.name = 'PatternProblem';
  }
}

/** Longest `/pattern/` an expression may hold, in characters (bounds the cost of user patterns). */
export const MAX_EXPR_PATTERN_CHARS = 256;

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\x2f:-@\\x5b-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const FLAG_LETTERS: Record<PatternDialect, string> = { re2: 'ims', java: 'imsxud' };

/**
 * Compiles `source` so that `.test()` succeeds only when the whole string matches.
 * Throws PatternProblem for patterns that are invalid or that we cannot run faithfully.
 */
export function compileWholeMatch(source: string, dialect: PatternDialect): RegExp {
  if (dialect === 're2') checkRe2Characters(source);
  let i = 0;
  let flags = 'u';
  // a leading `(?flags)` applies to the whole pattern, which JavaScript expresses as RegExp flags
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(source);
  if (lead) {
    for (const f of lead[1]) {
      if (!FLAG_LETTERS[dialect].includes(f)) {
        throw new PatternProblem('INVALID_PATTERN', 2, f, `the inline flag "${f}" is not supported here (supported: ${FLAG_LETTERS[dialect].split('').join(', ')})`);
      }
      // x (comments), u (Unicode case) and d (Unix lines) change nothing we can express; i, m, s map directly
      if ('ims'.includes(f) && !flags.includes(f)) flags += f;
    }
    i = lead[0].length;
  }
  let out = '';
  let inClass = false;
  // whether the previous character was an unescaped quantifier outside a class (to spot `a++`)
  let afterQuantifier = false;
  while (i < source.length) {
    const c = source[i];
    const wasAfterQuantifier = afterQuantifier;
    afterQuantifier = false;
    if (c === '\\') {
      const n = source[i + 1];
      if (n === undefined) throw new PatternProblem('INVALID_PATTERN', i, c, 'the pattern ends with a lone backslash');
      if (n === 'Q') {
        // \Q…\E quotes everything in between literally
        const end = source.indexOf('\\E', i + 2);
        const literal = source.slice(i + 2, end < 0 ? source.length : end);
        out += [...literal].map(escapeLiteral).join('');
        i = end < 0 ? source.length : end + 2;
        continue;
      }
      if (!inClass && n === 'A') out += '^';
      else if (!inClass && n === 'z') out += '$';
      else if (!inClass && n === 'Z') out += '(?=\\n?$)';
      else if (/[0-9A-Za-z]/.test(n)) {
        if (dialect === 're2' && /[1-9]/.test(n)) {
          throw new PatternProblem('INVALID_PATTERN', i, c, 'back-references (\\1 …) are not supported in patterns');
        }
        out += c + n;
      } else out += escapeLiteral(n);
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === '[' && source[i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(source.slice(i));
        const ranges = m ? POSIX_CLASSES[m[2]] : undefined;
        if (m && ranges !== undefined) {
          if (m[1] === '^') throw new PatternProblem('INVALID_PATTERN', i, c, 'negated POSIX classes ([:^name:]) are not supported');
          out += ranges;
          i += m[0].length;
          continue;
        }
      }
      if (dialect === 'java' && c === '&' && source[i + 1] === '&') {
        throw new PatternProblem('INVALID_PATTERN', i, c, 'character class intersection (&&) is not supported; list the allowed characters instead');
      }
      if (c === '[') out += '\\['; // literal inside a class in RE2/Java, a syntax error in `u` mode
      else out += c;
      if (c === ']') inClass = false;
      i++;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      i++;
      // a `]` (after an optional `^`) right at the start of a class is a literal in RE2 and Java
      if (source[i] === '^') {
        out += '^';
        i++;
      }
      if (source[i] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && source[i + 1] === '?') {
      const rest = source.slice(i + 2);
      if (rest.startsWith('P<')) {
        out += '(?<';
        i += 4;
        continue;
      }
      if (dialect === 're2' && /^(=|!|<=|<!)/.test(rest)) {
        throw new PatternProblem('INVALID_PATTERN', i, c, 'look-ahead and look-behind groups are not supported in patterns');
      }
      if (/^[a-zA-Z-]+[:)]/.test(rest)) {
        throw new PatternProblem('INVALID_PATTERN', i, c, 'inline flags are only supported at the very start of a pattern, e.g. (?i)main');
      }
    }
    if (c === '+' && wasAfterQuantifier) {
      throw new PatternProblem('INVALID_PATTERN', i, c, 'possessive quantifiers (*+, ++, ?+) are not supported; use the greedy form (*, +, ?)');
    }
    afterQuantifier = c === '*' || c === '+' || c === '?' || c === '}';
    out += c;
    i++;
  }
  try {
    return new RegExp(`^(?:${out})$`, flags);
  } catch (err) {
    const why = String((err as Error).message).replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '');
    throw new PatternProblem('INVALID_PATTERN', 0, '', `not a valid regular expression: ${why}`);
  }
}

/** RE2 patterns in expressions are limited to ASCII and Latin-1 characters (as in CircleCI). */
function checkRe2Characters(source: string): void {
  const chars = [...source];
  if (chars.length > MAX_EXPR_PATTERN_CHARS) {
    throw new PatternProblem('PATTERN_TOO_LONG', 0, '', `the pattern is ${chars.length} characters long; the limit is ${MAX_EXPR_PATTERN_CHARS}`);
  }
  let offset = 0;
  for (let k = 0; k < chars.length; k++) {
    const ch = chars[k];
    if (ch.codePointAt(0)! > 0xff) {
      throw new PatternProblem('INVALID_PATTERN_CHARACTER', offset, ch, `the character ${JSON.stringify(ch)} is outside Latin-1; patterns may only contain ASCII and Latin-1 characters`);
    }
    if (ch === '\\') {
      const next = chars[k + 1];
      const hex = /^x\{([0-9A-Fa-f]+)\}/.exec(chars.slice(k + 1, k + 12).join(''));
      if (next === 'u' || next === 'U' || (hex && parseInt(hex[1], 16) > 0xff)) {
        throw new PatternProblem('INVALID_PATTERN_CHARACTER', offset, ch, 'escapes for characters outside Latin-1 are not allowed in patterns');
      }
      // skip the escaped character so `\\u` is read as an escaped backslash followed by `u`
      if (next !== undefined) {
        offset += ch.length + next.length;
        k++;
        continue;
      }
    }
    offset += ch.length;
  }
}

/** A character as a literal that is valid in JavaScript's `u` mode both inside and outside classes. */
function escapeLiteral(ch: string): string {
  if (/[0-9A-Za-z]/.test(ch)) return ch;
  const cp = ch.codePointAt(0)!;
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}
