/**
 * The system error code (ECONNREFUSED, ENOTFOUND, …) behind a failed network call. undici wraps
 * it in `cause`; a connection that tried several addresses fails with an AggregateError, whose
 * first address's code is the one to report.
 */
export function networkErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string') return e.code;
  if (Array.isArray(e.errors) && e.errors.length > 0) return networkErrorCode(e.errors[0]);
  if (e.cause !== undefined && e.cause !== err) return networkErrorCode(e.cause);
  return undefined;
}
