/**
 * Recursive-descent parser for CircleCI expressions. Precedence, weakest first:
 *   or  <  and  <  == != starts-with matches  <  > >= < <=  <  not/!  <  literals, names, ( … )
 * All binary operators associate to the left. The whole input must be one expression.
 */
import { ExprError, quoteLexeme } from './error.js';
import { scan, type Token, type TokenType } from './lexer.js';

export type ExprAst =
  | { kind: 'literal'; value: string | number | boolean; token: Token }
  | { kind: 'pattern'; regex: RegExp; token: Token }
  | { kind: 'variable'; name: string; token: Token }
  | { kind: 'not'; operand: ExprAst; token: Token }
  | { kind: 'logical'; op: 'AND' | 'OR'; left: ExprAst; right: ExprAst; token: Token }
  | { kind: 'binary'; op: BinaryOp; left: ExprAst; right: ExprAst; token: Token };

export type BinaryOp =
  | 'EQUAL_EQUAL'
  | 'BANG_EQUAL'
  | 'STARTS_WITH'
  | 'MATCHES'
  | 'GREATER'
  | 'GREATER_EQUAL'
  | 'LESS'
  | 'LESS_EQUAL';

/** Deeper nesting than this (parentheses, `not`) is refused rather than risking the stack. */
export const MAX_EXPR_NESTING = 200;

const EQUALITY: TokenType[] = ['EQUAL_EQUAL', 'BANG_EQUAL', 'STARTS_WITH', 'MATCHES'];
const COMPARISON: TokenType[] = ['GREATER', 'GREATER_EQUAL', 'LESS', 'LESS_EQUAL'];

/** More tokens than this is refused: evaluation recurses once per operator. */
export const MAX_EXPR_TOKENS = 5000;

export function parse(src: string): ExprAst {
  const tokens = scan(src);
  if (tokens.length > MAX_EXPR_TOKENS) {
    const t = tokens[MAX_EXPR_TOKENS];
    throw new ExprError(
      { errorType: 'Parser/TOO_LONG', tokenType: t.type, lexeme: t.lexeme, charPos: t.pos },
      `the expression has more than ${MAX_EXPR_TOKENS} parts (at character ${t.pos}); split the condition up`,
    );
  }
  return new Parser(tokens).expressionOnly();
}

class Parser {
  private current = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  expressionOnly(): ExprAst {
    const expr = this.or();
    const next = this.peek();
    if (next.type !== 'EOF') {
      throw new ExprError(
        { errorType: 'Parser/UNEXPECTED_ADDITIONAL_INPUT', tokenType: next.type, lexeme: next.lexeme, charPos: next.pos },
        `unexpected ${quoteLexeme(next.lexeme)} at character ${next.pos} after a complete expression` +
          (next.type === 'RIGHT_PAREN' ? ' (there is no "(" for it to close)' : ' (missing "and", "or" or an operator?)'),
      );
    }
    return expr;
  }

  private or(): ExprAst {
    let left = this.and();
    while (this.peek().type === 'OR') {
      const token = this.advance();
      left = { kind: 'logical', op: 'OR', left, right: this.and(), token };
    }
    return left;
  }

  private and(): ExprAst {
    let left = this.equality();
    while (this.peek().type === 'AND') {
      const token = this.advance();
      left = { kind: 'logical', op: 'AND', left, right: this.equality(), token };
    }
    return left;
  }

  private equality(): ExprAst {
    let left = this.comparison();
    while (EQUALITY.includes(this.peek().type)) {
      const token = this.advance();
      left = { kind: 'binary', op: token.type as BinaryOp, left, right: this.comparison(), token };
    }
    return left;
  }

  private comparison(): ExprAst {
    let left = this.unary();
    while (COMPARISON.includes(this.peek().type)) {
      const token = this.advance();
      left = { kind: 'binary', op: token.type as BinaryOp, left, right: this.unary(), token };
    }
    return left;
  }

  private unary(): ExprAst {
    if (this.peek().type === 'BANG') {
      const token = this.advance();
      this.enter(token);
      const operand = this.unary();
      this.depth--;
      return { kind: 'not', operand, token };
    }
    return this.primary();
  }

  private primary(): ExprAst {
    const token = this.peek();
    switch (token.type) {
      case 'TRUE':
      case 'FALSE':
        this.advance();
        return { kind: 'literal', value: token.type === 'TRUE', token };
      case 'NUMBER':
      case 'STRING':
        this.advance();
        return { kind: 'literal', value: token.literal as number | string, token };
      case 'PATTERN':
        this.advance();
        return { kind: 'pattern', regex: token.literal as RegExp, token };
      case 'IDENTIFIER':
        this.advance();
        return { kind: 'variable', name: token.lexeme, token };
      case 'LEFT_PAREN': {
        this.advance();
        this.enter(token);
        const inner = this.or();
        this.depth--;
        const close = this.peek();
        if (close.type !== 'RIGHT_PAREN') {
          throw new ExprError(
            { errorType: 'Parser/EXPECTED_RIGHT_PAREN', tokenType: close.type, lexeme: close.lexeme, charPos: close.pos },
            `expected ")" to close the "(" at character ${token.pos}, but found ${quoteLexeme(close.lexeme)} at character ${close.pos}`,
          );
        }
        this.advance();
        return inner;
      }
      default:
        throw new ExprError(
          { errorType: 'Parser/EXPECTED_EXPRESSION', tokenType: token.type, lexeme: token.lexeme, charPos: token.pos },
          `expected a value, a name or "(" at character ${token.pos}, but found ${quoteLexeme(token.lexeme)}`,
        );
    }
  }

  private enter(token: Token): void {
    if (++this.depth > MAX_EXPR_NESTING) {
      throw new ExprError(
        { errorType: 'Parser/TOO_DEEPLY_NESTED', tokenType: token.type, lexeme: token.lexeme, charPos: token.pos },
        `the expression nests more than ${MAX_EXPR_NESTING} levels deep at character ${token.pos}; simplify it`,
      );
    }
  }

  private peek(): Token {
    return this.tokens[this.current];
  }

  private advance(): Token {
    const t = this.tokens[this.current];
    if (t.type !== 'EOF') this.current++;
    return t;
  }
}
