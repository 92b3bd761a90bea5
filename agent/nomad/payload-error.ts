/**
 * Why the agent could not get its assignment from a Nomad dispatch payload. The message is one
 * line that names the file or URL (never a token) and says what to do.
 *
 * `kind` tells the caller whom to blame: `input` when the payload is wrong (missing, too big, not
 * JSON, a reference that points nowhere), so running again changes nothing; `infrastructure` when
 * a reference could not be fetched (refused, timed out, a 5xx), so the dispatcher may retry the job.
 */
import { DeckhandError } from '../errors.js';

export type PayloadErrorKind = 'input' | 'infrastructure';

export class PayloadError extends DeckhandError {
  override name = 'PayloadError';

  constructor(kind: PayloadErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, kind, options);
  }
}
