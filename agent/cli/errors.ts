/** How the CLI reports a failure: one clear line per problem, a stack trace only with --debug. */
import { ConfigError, formatDiagnostic } from '../config/diagnostics.js';
import { UsageError } from '../usage-error.js';


export function reportAndExit(err: unknown, debug: boolean): void {
  if (err instanceof ConfigError) {
    for (const d of err.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    process.exitCode = 1;
  } else if (err instanceof UsageError) {
    process.stderr.write(`deckhand: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`deckhand: internal error: ${msg}${debug ? '' : ' (run with --debug for details)'}\n`);
    process.exitCode = 2;
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}
