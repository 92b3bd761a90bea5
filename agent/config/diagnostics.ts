/**
 * Positioned config problems. Every error a user can cause in a config ends up as a Diagnostic,
 * printed as `FILE:LINE:COL: message` — the shape editors and terminals link to. A warning (a key
 * CircleCI accepts and ignores, a matrix value listed twice) is printed as
 * `FILE:LINE:COL: warning: message` and does not fail the config.
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
  /** absent means an error */
  severity?: 'error' | 'warning';
}

export function formatPos(pos: SourcePos | undefined): string {
  return pos ? `${pos.file}:${pos.line}:${pos.col}` : '';
}

export function formatDiagnostic(d: Diagnostic): string {
  const message = d.severity === 'warning' ? `warning: ${d.message}` : d.message;
  return d.pos ? `${formatPos(d.pos)}: ${message}` : message;
}

export function isWarning(d: Diagnostic): boolean {
  return d.severity === 'warning';
}

/** Thrown when a config cannot be loaded or compiled; carries one or more positioned problems. */
export class ConfigError extends DeckhandError {
  readonly diagnostics: Diagnostic[];
  /** warnings found on the way, for a front end that prints them with the errors */
  warnings: Diagnostic[] = [];
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

/** A warning: something CircleCI accepts and ignores, or quietly mends. */
export function configWarning(pos: SourcePos | undefined, message: string): Diagnostic {
  return { pos, message, severity: 'warning' };
}

/** Where warnings go while compiling; the compiler never prints. */
export type WarningSink = (d: Diagnostic) => void;

/**
 * Drops repeats (an orb command used ten times warns once) and orders by line and column within
 * each file: `first` (the config) first, then the others (orbs) in the order they first appear.
 */
export function sortUnique(diags: readonly Diagnostic[], first?: string): Diagnostic[] {
  const seen = new Set<string>();
  const files = new Map<string, number>(first !== undefined ? [[first, 0]] : []);
  const out: Diagnostic[] = [];
  for (const d of diags) {
    const key = `${d.pos?.file ?? ''}:${d.pos?.line ?? 0}:${d.pos?.col ?? 0}:${d.severity ?? 'error'}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
    const file = d.pos?.file ?? '';
    if (!files.has(file)) files.set(file, files.size);
  }
  const fileOrder = (d: Diagnostic): number => files.get(d.pos?.file ?? '') ?? 0;
  return out.sort((a, b) => fileOrder(a) - fileOrder(b) || (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0));
}
