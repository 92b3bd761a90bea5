/**
 * gRPC errors the Nomad client understands. A recoverable one is FAILED_PRECONDITION with a
 * RecoverableError detail in grpc-status-details-bin: the client then restarts the task under
 * its restart policy instead of failing it outright (plugins/drivers/client.go and
 * plugins/shared/structs in https://github.com/hashicorp/nomad).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { protocol } from '../protocol.js';

export type GrpcError = Partial<ServiceError> & { code: status; details: string };

export function grpcError(code: status, details: string): GrpcError {
  return { code, details, message: details };
}

export function recoverableError(details: string): GrpcError {
  const { root } = protocol();
  const detail = root.lookupType('hashicorp.nomad.plugins.shared.structs.RecoverableError').encode({ recoverable: true }).finish();
  const rich = root
    .lookupType('google.rpc.Status')
    .encode({ code: status.FAILED_PRECONDITION, message: details, details: [{ type_url: 'type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError', value: detail }] })
    .finish();
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(rich));
  return { code: status.FAILED_PRECONDITION, details, message: details, metadata };
}
