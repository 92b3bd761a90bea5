/** A peer broke the protocol, or the processor cannot serve it: the call ends with this gRPC status and message. */
import type { status } from '@grpc/grpc-js';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly code: status,
    message: string,
    /** trailers sent with the status (machine-readable detail, e.g. the store error) */
    readonly trailers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
