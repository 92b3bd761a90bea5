/**
 * The request handling the output processor's and the artifact server's HTTP sides share: one
 * JSON log line per request, a thrown HttpError answered as its status with `{"error": …}`, any
 * other failure as 500, and requests node:http cannot even parse answered and logged too. A
 * request never takes the server down.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../daemon-log.js';
import { HttpError } from './http-error.js';
import { JSON_TYPE, SAFETY_HEADERS, sendHead } from './http-headers.js';

/**
 * A node:http handler around `serve`. What it throws is answered: an HttpError with its status
 * and message, anything else with 500 and `internal(message)`; once the head is sent, the
 * response is cut short instead (the client sees it from Content-Length or the stream's end).
 */
export function requestHandler(
  logger: Logger,
  serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  internal: (message: string) => string = (m) => m,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const failed = logRequest(logger, req, res);
    serve(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const error = e instanceof Error ? e.message : String(e);
      failed(error);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, status, status === 500 ? internal(error) : error);
    });
  };
}

/** `body` as JSON with `status` (no body for HEAD: node:http drops it). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  sendHead(res, status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...SAFETY_HEADERS }).end(text);
}

/** `{"error": message}` with `status`. */
export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

/** Logs `req` when `res` closes; call the returned function with the error, if it failed. */
function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): (error: string) => void {
  const t0 = performance.now();
  let error: string | undefined;
  res.once('close', () => {
    const status = res.statusCode;
    const announced = res.getHeader('content-length');
    logger.log(status >= 500 ? 'error' : 'info', 'request', {
      method: req.method,
      // a read token in the query (job pages carry one) stays out of logs
      path: (req.url ?? '').slice(0, 2048).replace(/([?&]token=)[^&#]*/gi, '$1(hidden)'),
      status,
      // the body's length as announced (none for streams); `complete: false` says it was cut short
      bytes: announced === undefined ? undefined : Number(announced),
      ms: Math.round(performance.now() - t0),
      complete: res.writableFinished,
      remote: req.socket.remoteAddress,
      error,
    });
  });
  return (e) => {
    error = e;
  };
}

/**
 * A request node:http cannot even parse (bad request line, headers over the size limit): answer
 * 400 (431 for oversized headers) and log it, as any other request.
 */
export function answerUnparsable(server: Server, logger: Logger): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    logger.log('warn', 'bad request', { error: err.code ?? err.message, remote: socket.remoteAddress });
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });
}
