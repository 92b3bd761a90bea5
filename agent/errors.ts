/**
 * One error vocabulary for every front end. A DeckhandError carries a kind that says whose
 * problem it is; the CLI maps kinds to exit codes and an HTTP API maps them to statuses, so a
 * module deep inside the agent never needs to know which front end runs it. Anything that is not
 * a DeckhandError is an internal error (a bug): its message is shown with a hint to use --debug.
 */

/**
 * - `input`: what the user or a peer gave is wrong (a flag, a config, an assignment, a payload);
 *   fixing it is up to them, and the message says how.
 * - `infrastructure`: something the job needs is not there (the Docker engine, a machine, the
 *   output processor, the store); the job itself may be fine, and a retry elsewhere may pass.
 * - `job`: the job ran and failed by its own steps.
 * - `internal`: a bug in Deckhand.
 */
export type ErrorKind = 'input' | 'infrastructure' | 'job' | 'internal';

export class DeckhandError extends Error {
  override name = 'DeckhandError';
  readonly kind: ErrorKind;

  constructor(message: string, kind: ErrorKind, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

/** Input the user must fix: a bad flag value, a missing file, an unknown context. One line, exit 2. */
export class UsageError extends DeckhandError {
  override name = 'UsageError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, 'input', options);
  }
}

/** Something outside the job that it needs is unreachable or broken. One line, exit 2. */
export class InfrastructureError extends DeckhandError {
  override name = 'InfrastructureError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, 'infrastructure', options);
  }
}

export function errorKind(err: unknown): ErrorKind {
  return err instanceof DeckhandError ? err.kind : 'internal';
}

/** Exit codes of every command: 0 success, 1 the job failed, 2 usage/config/infrastructure/internal. */
export const EXIT_OK = 0;
export const EXIT_JOB_FAILED = 1;
export const EXIT_ERROR = 2;
/** a job canceled by SIGINT (Ctrl-C) or SIGTERM (a Nomad kill): 128 + the signal's number, as a shell reports it */
export const EXIT_CANCELED_SIGINT = 130;
export const EXIT_CANCELED_SIGTERM = 143;

export function exitCodeFor(kind: ErrorKind): number {
  return kind === 'job' ? EXIT_JOB_FAILED : EXIT_ERROR;
}

/** The status an HTTP API answers a failed request with. */
export function httpStatusFor(kind: ErrorKind): number {
  switch (kind) {
    case 'input':
      return 400;
    case 'infrastructure':
      return 503;
    case 'job':
      return 422;
    case 'internal':
      return 500;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
