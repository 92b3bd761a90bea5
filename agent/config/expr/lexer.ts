/**
 * Scanner for CircleCI expressions: turns the text of `pipeline.git.branch == "main" and …` into
 * tokens with their 0-based start positions. Token and error names follow CircleCI-Public/expr, so
 * errors can be checked against its corpus.
 */
import { ExprError } from './error.js';
import { compileWholeMatch, PatternProblem } from './pattern.js';

export type TokenType =
  | 'LEFT_PAREN'
  | 'RIGHT_PAREN'
  | 'BANG'
  | 'BANG_EQUAL'
  | 'EQUAL_EQUAL'
  | 'GREATER'
  | 'GREATER_EQUAL'
  | 'LESS'
  | 'LESS_EQUAL'
  | 'STARTS_WITH'
  | 'MATCHES'
  | 'AND'
  | 'OR'
  | 'TRUE'
  | 'FALSE'
  | 'NUMBER'
  | 'STRING'
  | 'PATTERN'
  | 'IDENTIFIER'
  | 'EOF';

export interface Token {
  type: TokenType;
  /** the text as written (`""` for EOF) */
  lexeme: string;
  /** 0-based index of the first character */
  pos: number;
  /** NUMBER: its value; STRING: the unescaped text; PATTERN: the compiled whole-string matcher */
  literal?: number | string | RegExp;
}

/** Words with a meaning of their own; `and`/`or`/`not` also have upper-case aliases. */
const KEYWORDS: Record<string, TokenType> = {
  and: 'AND',
  AND: 'AND',
  or: 'OR',
  OR: 'OR',
  not: 'BANG',
  NOT: 'BANG',
  true: 'TRUE',
  false: 'FALSE',
  'starts-with': 'STARTS_WITH',
  matches: 'MATCHES',
};

const isAlpha = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z]$/.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
/** characters allowed after an identifier's first letter (`?` too: `ident?` is a valid name) */
const isNameChar = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9_?-]$/.test(c);
const isSegmentChar = (c: string | undefined): boolean => c !== undefined && /^[A-Za-z0-9_-]$/.test(c);

export function scan(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const add = (type: TokenType, start: number, literal?: Token['literal']): void => {
    tokens.push({ type, lexeme: src.slice(start, i), pos: start, ...(literal !== undefined ? { literal } : {}) });
  };
  while (i < src.length) {
    const start = i;
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    switch (c) {
      case '(':
        i++;
        add('LEFT_PAREN', start);
        continue;
      case ')':
        i++;
        add('RIGHT_PAREN', start);
        continue;
      case '!':
        i++;
        if (src[i] === '=') {
          i++;
          add('BANG_EQUAL', start);
        } else add('BANG', start);
        continue;
      case '>':
      case '<':
        i++;
        if (src[i] === '=') {
          i++;
          add(c === '>' ? 'GREATER_EQUAL' : 'LESS_EQUAL', start);
        } else add(c === '>' ? 'GREATER' : 'LESS', start);
        continue;
      case '=':
        i++;
        if (src[i] !== '=') {
          const got = src[i] === undefined ? '' : charAt(src, i);
          throw new ExprError(
            { errorType: 'Scanner/INCOMPLETE_EQUALS', lexeme: got === '' ? '=' : got, charPos: got === '' ? start : i },
            `"=" at character ${start} must be doubled: write "==" to compare values`,
          );
        }
        i++;
        add('EQUAL_EQUAL', start);
        continue;
      case '"':
        i = scanString(src, start, tokens);
        continue;
      case '/':
        // a /pattern/ is only meaningful as the right side of `matches`; elsewhere `/` is a stray character
        if (tokens.length > 0 && tokens[tokens.length - 1].type === 'MATCHES') {
          i = scanPattern(src, start, tokens);
          continue;
        }
        break;
      default:
        if (isDigit(c)) {
          while (isDigit(src[i])) i++;
          const value = Number(src.slice(start, i));
          if (!Number.isSafeInteger(value)) {
            throw new ExprError(
              { errorType: 'Scanner/INVALID_NUMERIC_LITERAL', lexeme: c, charPos: start },
              `the number at character ${start} is too large (the largest is ${Number.MAX_SAFE_INTEGER})`,
            );
          }
          add('NUMBER', start, value);
          continue;
        }
        if (isAlpha(c)) {
          i = scanName(src, start);
          const word = src.slice(start, i);
          add(KEYWORDS[word] ?? 'IDENTIFIER', start);
          continue;
        }
    }
    throw unexpectedCharacter(src, start);
  }
  tokens.push({ type: 'EOF', lexeme: '', pos: src.length });
  return tokens;
}

/** The whole code point at `i` (so an emoji is reported as itself, not half a surrogate pair). */
function charAt(src: string, i: number): string {
  return String.fromCodePoint(src.codePointAt(i)!);
}

function scanName(src: string, start: number): number {
  let i = start + 1;
  for (;;) {
    while (isNameChar(src[i])) i++;
    if (src[i] !== '.') return i;
    // each dot must be followed by a segment: `foo..bar` and `foo.` are refused at the dot
    if (!isSegmentChar(src[i + 1])) {
      throw new ExprError(
        { errorType: 'Scanner/UNEXPECTED_CHARACTER', lexeme: '.', charPos: i },
        `unexpected "." at character ${i}: each "." in a name must be followed by letters, digits, "_" or "-" (as in pipeline.git.branch)`,
      );
    }
    i++;
  }
}

function scanString(src: string, start: number, tokens: Token[]): number {
  let i = start + 1;
  let value = '';
  while (i < src.length && src[i] !== '"') {
    // `\` escapes an embedded `"` or `\`; before anything else it is kept as written
    if (src[i] === '\\' && (src[i + 1] === '"' || src[i + 1] === '\\')) {
      value += src[i + 1];
      i += 2;
      continue;
    }
    value += src[i];
    i++;
  }
  if (i >= src.length) {
    throw new ExprError(
      { errorType: 'Scanner/UNTERMINATED_STRING', lexeme: '"', charPos: start },
      `the string starting at character ${start} has no closing double quote (escape a quote inside it as \\")`,
    );
  }
  i++;
  tokens.push({ type: 'STRING', lexeme: src.slice(start, i), pos: start, literal: value });
  return i;
}

function scanPattern(src: string, start: number, tokens: Token[]): number {
  let i = start + 1;
  let source = '';
  // where each character of `source` was written, to point errors at the right character
  const origin: number[] = [];
  while (i < src.length && src[i] !== '/') {
    if (src[i] === '\\' && src[i + 1] === '/') {
      origin.push(i);
      source += '/';
      i += 2;
      continue;
    }
    if (src[i] === '\\' && src[i + 1] !== undefined) {
      // other escapes belong to the regular expression itself and are passed on untouched
      origin.push(i, i + 1);
      source += src[i] + src[i + 1];
      i += 2;
      continue;
    }
    origin.push(i);
    source += src[i];
    i++;
  }
  if (i >= src.length) {
    throw new ExprError(
      { errorType: 'Scanner/UNTERMINATED_PATTERN', lexeme: '/', charPos: start },
      `the pattern starting at character ${start} has no closing "/" (escape a slash inside it as \\/)`,
    );
  }
  i++;
  let regex: RegExp;
  try {
    regex = compileWholeMatch(source, 're2');
  } catch (err) {
    if (!(err instanceof PatternProblem)) throw err;
    if (err.kind === 'INVALID_PATTERN_CHARACTER') {
      const at = origin[err.offset] ?? start;
      throw new ExprError(
        { errorType: 'Scanner/INVALID_PATTERN_CHARACTER', lexeme: err.lexeme, charPos: at },
        `invalid character in the pattern at character ${at}: ${err.message}`,
      );
    }
    throw new ExprError(
      { errorType: `Scanner/${err.kind}`, lexeme: '/', charPos: start },
      `invalid pattern at character ${start}: ${err.message}`,
    );
  }
  tokens.push({ type: 'PATTERN', lexeme: src.slice(start, i), pos: start, literal: regex });
  return i;
}

const HINTS: Record<string, string> = {
  '&': 'use "and" to combine conditions',
  '|': 'use "or" for alternatives',
  "'": 'strings are written in double quotes',
  '/': 'a /pattern/ can only follow "matches"',
  '-': 'names start with a letter, and there are no negative numbers',
  _: 'names start with a letter',
  '.': 'names start with a letter; "." only separates the parts of a name',
};

function unexpectedCharacter(src: string, pos: number): ExprError {
  const ch = charAt(src, pos);
  const hint = HINTS[ch];
  return new ExprError(
    { errorType: 'Scanner/UNEXPECTED_CHARACTER', lexeme: ch, charPos: pos },
    `unexpected character ${JSON.stringify(ch)} at character ${pos}${hint ? ` (${hint})` : ''}`,
  );
}
