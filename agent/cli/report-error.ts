/** How the CLI reports a failure: one clear line per problem, a stack trace only with --debug. */
import { ConfigError, formatDiagnostic, sortUnique } from '../config/diagnostics.js';
import { DeckhandError, EXIT_ERROR, EXIT_JOB_FAILED, errorMessage, exitCodeFor } from '../errors.js';

export function reportAndExit(err: unknown, debug: boolean): void {
  if (err instanceof ConfigError) {
    // `config validate|process`: an invalid config is their "failure" (1); execute and run map it to 2 themselves
    process.stderr.write(configProblemLines(err));
    process.exitCode = EXIT_JOB_FAILED;
  } else if (err instanceof DeckhandError) {
    process.stderr.write(`deckhand: ${err.message}\n`);
    process.exitCode = exitCodeFor(err.kind);
  } else {
    process.stderr.write(`deckhand: internal error: ${errorMessage(err)}${debug ? '' : ' (run with --debug for details)'}\n`);
    process.exitCode = EXIT_ERROR;
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}

/** A config's errors with the warnings found on the way, in position order, one line each. */
export function configProblemLines(err: ConfigError): string {
  return sortUnique([...err.warnings, ...err.diagnostics], err.diagnostics[0]?.pos?.file)
    .map((d) => `${formatDiagnostic(d)}\n`)
    .join('');
}
