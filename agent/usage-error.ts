/**
 * Input the user must fix — a bad flag value, a missing file, an unknown context. The CLI prints
 * its message on one line and exits 2; modules below the CLI throw it without knowing the CLI.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
