/** A peer broke the protocol: the call ends with this gRPC status and message. */
import type { status } from '@grpc/grpc-js';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}
