/**
 * The one error type of the expression language. Its fields mirror the error maps of the
 * CircleCI-Public/expr conformance corpus (errorType, tokenType, lexeme, charPos), so tests can
 * compare them directly; `message` is the one-line explanation shown to users.
 */
export class ExprError extends Error {
  /** `Subsystem/KIND`, e.g. `Scanner/UNEXPECTED_CHARACTER`, `Interpreter/UNKNOWN_VARIABLE` */
  readonly errorType: string;
  /** the token's type; absent for scanner errors, which happen before tokens exist */
  readonly tokenType?: string;
  /** the text at fault (`""` at end of input) */
  readonly lexeme?: string;
  /** 0-based index into the expression text (UTF-16 code units, as in the reference) */
  readonly charPos: number;

  constructor(fields: { errorType: string; tokenType?: string; lexeme?: string; charPos: number }, message: string) {
    super(message);
    this.name = 'ExprError';
    this.errorType = fields.errorType;
    if (fields.tokenType !== undefined) this.tokenType = fields.tokenType;
    if (fields.lexeme !== undefined) this.lexeme = fields.lexeme;
    this.charPos = fields.charPos;
  }
}

/** How a lexeme is quoted in messages; the end of input has no text of its own. */
export function quoteLexeme(lexeme: string): string {
  return lexeme === '' ? 'the end of the expression' : JSON.stringify(lexeme);
}
