/**
 * Serving a plugin the way go-plugin's host expects (https://github.com/hashicorp/go-plugin,
 * docs/guide-plugin-write-non-go.md): a gRPC server on a unix socket, the health service
 * answering SERVING for "plugin", the controller whose Shutdown ends the process, the stdio stream
 * held open, the broker stream accepted; and only once the server listens, the handshake line on
 * stdout. The plugin's own services are added by the caller.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { protocol } from '../protocol.js';
import { handshakeLine } from './cookie.js';
import type { PluginLog } from './log.js';

export interface PluginServices {
  base: UntypedServiceImplementation;
  driver: UntypedServiceImplementation;
}

export interface ServedPlugin {
  socketPath: string;
  /** resolves when the host asked the plugin to shut down (or stop() was called) */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

/** A unix socket is limited to 107 bytes of path; go-plugin's own servers use the temp dir too. */
function socketPath(env: NodeJS.ProcessEnv): string {
  const dir = mkdtempSync(join(env.PLUGIN_UNIX_SOCKET_DIR || tmpdir(), 'deckhand-plugin-'));
  const path = join(dir, 'plugin.sock');
  if (Buffer.byteLength(path) > 107) throw new Error(`the plugin's socket path ${path} is longer than a unix socket allows (107 bytes): set TMPDIR to a shorter folder`);
  return path;
}

/** Serves until the host's Shutdown, stop(), or `stopSignal` (SIGTERM, which may come before the handshake). */
export async function servePlugin(services: PluginServices, log: PluginLog, env: NodeJS.ProcessEnv, writeStdout: (line: string) => void, stopSignal?: AbortSignal): Promise<ServedPlugin> {
  const { services: defs } = protocol();
  // go-plugin's host allows messages up to 2 GiB; a TaskConfig with a large environment must fit
  const server = new Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const path = socketPath(env);
  const openStreams = new Set<ServerWritableStream<unknown, unknown>>();
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        rmSync(join(path, '..'), { recursive: true, force: true });
        resolveStopped();
        resolve();
      };
      for (const call of openStreams) call.end();
      // streams the host keeps open (fingerprint, events, stats) would hold a graceful shutdown
      // past go-plugin's 2 s before SIGKILL: cut them after a moment
      const force = setTimeout(() => {
        server.forceShutdown();
        finish();
      }, 500);
      server.tryShutdown(() => {
        clearTimeout(force);
        finish();
      });
    });
    return stopping;
  };

  server.addService(defs.health, {
    Check(call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<unknown>) {
      const name = call.request.service;
      if (name === '' || name === 'plugin') callback(null, { status: 'SERVING' });
      else callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(name)}` });
    },
    Watch(call: ServerWritableStream<{ service: string }, unknown>) {
      const name = call.request.service;
      call.write({ status: name === '' || name === 'plugin' ? 'SERVING' : 'SERVICE_UNKNOWN' });
      holdOpen(call, openStreams);
    },
  });
  server.addService(defs.controller, {
    Shutdown(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
      log.log('info', 'the host asked the plugin to shut down; running tasks go on and are recovered by the next plugin process');
      callback(null, {});
      setImmediate(() => void stop());
    },
  });
  server.addService(defs.stdio, {
    // Nomad discards what comes here (its host sets no stdio sinks); stderr itself is the log
    StreamStdio(call: ServerWritableStream<unknown, unknown>) {
      holdOpen(call, openStreams);
    },
  });
  server.addService(defs.broker, {
    // Nomad's drivers never use the broker; the stream is accepted so the host logs no error
    StartStream(call: ServerWritableStream<unknown, unknown> & { on(event: 'data', fn: () => void): void }) {
      call.on('data', () => undefined);
      holdOpen(call, openStreams);
    },
  });
  server.addService(defs.base, services.base);
  server.addService(defs.driver, services.driver);

  stopSignal?.addEventListener('abort', () => void stop(), { once: true });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  if (stopSignal?.aborted) {
    await stop();
    return { socketPath: path, stopped, stop };
  }
  // only now: the host dials as soon as it reads the line
  writeStdout(handshakeLine(path));
  log.log('debug', 'plugin serving', { socket: path });
  return { socketPath: path, stopped, stop };
}

function holdOpen(call: ServerWritableStream<unknown, unknown>, open: Set<ServerWritableStream<unknown, unknown>>): void {
  open.add(call);
  const done = () => open.delete(call);
  call.on('cancelled', done);
  call.on('close', done);
  call.on('error', done);
}
