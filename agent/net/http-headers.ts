/** Response headers the HTTP servers (output processor, artifact server) share. */
import type { ServerResponse } from 'node:http';

/**
 * Sent with every byte a job produced (artifacts, step output) and every index or error: no
 * sniffing, and a policy that lets nothing run or load even if a browser renders it (`sandbox`
 * gives it an opaque origin).
 */
export const SAFETY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
  'referrer-policy': 'no-referrer',
};

export const PLAIN_TEXT = 'text/plain; charset=utf-8';
export const JSON_TYPE = 'application/json; charset=utf-8';

/** Sets the headers one by one (so the request log can read them back), then sends the head. */
export function sendHead(res: ServerResponse, status: number, headers: Record<string, string | number>): ServerResponse {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  return res.writeHead(status);
}
