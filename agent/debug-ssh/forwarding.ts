/**
 * `ssh -L LOCAL:HOST:PORT`: a direct-tcpip channel joined to a TCP connection the executor opens
 * to HOST:PORT as the job sees it (a service container's port, a server a step started). Each
 * side's end is passed on as the other's end (half-close); the channel opens only once the
 * connection has, so a port nobody listens on fails the client's open, as with sshd.
 */
import type { Duplex } from 'node:stream';
import type { AcceptConnection, RejectConnection, ServerChannel, TcpipRequestInfo } from 'ssh2';
import type { Executor } from '../executor/executor.js';

export interface ForwardHooks {
  log(line: string): void;
  /** the forward is over (refused, or both sides closed) */
  ended(): void;
  /** what to call to cut it when the job's SSH ends; returns the deregistration */
  started(hangUp: () => Promise<void>): () => void;
}

/** How long opening the connection in the job may take before the client's open is refused. */
const CONNECT_TIMEOUT_MS = 10_000;

export function serveForward(executor: Executor, info: TcpipRequestInfo, accept: AcceptConnection<ServerChannel>, reject: RejectConnection, hooks: ForwardHooks): void {
  const where = `${info.destIP}:${info.destPort}`;
  void executor.connect(info.destIP, info.destPort, AbortSignal.timeout(CONNECT_TIMEOUT_MS)).then(
    (socket) => join(socket, accept(), hooks),
    (error: unknown) => {
      hooks.log(`SSH: a forward to ${where} was refused: ${error instanceof Error ? error.message : String(error)}`);
      reject();
      hooks.ended();
    },
  );
}

function join(socket: Duplex, channel: ServerChannel | undefined, hooks: ForwardHooks): void {
  if (!channel) {
    socket.destroy();
    hooks.ended();
    return;
  }
  channel.on('error', () => undefined);
  socket.on('error', () => undefined);
  let over = false;
  const cut = (): void => {
    if (over) return;
    over = true;
    socket.destroy();
    channel.close();
    done();
    hooks.ended();
  };
  const done = hooks.started(async () => cut());
  socket.pipe(channel);
  channel.pipe(socket);
  socket.once('close', () => {
    // the job's side has gone: whatever the client still sends has nowhere to go
    if (!channel.writableEnded) channel.end();
    setImmediate(cut);
  });
  channel.once('close', cut);
}
