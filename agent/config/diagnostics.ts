/**
 * Positioned config problems. Every error a user can cause in a config ends up as a Diagnostic,
 * printed as `FILE:LINE:COL: message` — the shape editors and terminals link to.
 */
import { DeckhandError } from '../errors.js';

export interface SourcePos {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
}

export interface Diagnostic {
  pos?: SourcePos;
  message: string;
}

export function formatPos(pos: SourcePos | undefined): string {
  return pos ? `${pos.file}:${pos.line}:${pos.col}` : '';
}

export function formatDiagnostic(d: Diagnostic): string {
  return d.pos ? `${formatPos(d.pos)}: ${d.message}` : d.message;
}

/** Thrown when a config cannot be loaded or compiled; carries one or more positioned problems. */
export class ConfigError extends DeckhandError {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[] | Diagnostic) {
    const list = Array.isArray(diagnostics) ? diagnostics : [diagnostics];
    super(list.map(formatDiagnostic).join('\n'), 'input');
    this.name = 'ConfigError';
    this.diagnostics = list;
  }
}

/** Shorthand for the common single-problem case. */
export function configError(pos: SourcePos | undefined, message: string): ConfigError {
  return new ConfigError({ pos, message });
}
