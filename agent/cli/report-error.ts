/** How the CLI reports a failure: one clear line per problem, a stack trace only with --debug. */
import { ConfigError, formatDiagnostic } from '../config/diagnostics.js';
import { DeckhandError, EXIT_ERROR, EXIT_JOB_FAILED, errorMessage, exitCodeFor } from '../errors.js';

export function reportAndExit(err: unknown, debug: boolean): void {
  if (err instanceof ConfigError) {
    // `config validate|process`: an invalid config is their "failure" (1); execute and run map it to 2 themselves
    for (const d of err.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
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
