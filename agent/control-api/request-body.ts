/**
 * Request bodies: JSON only, read up to a limit, and a pipeline submission checked field by field
 * so that each refusal says which field is wrong and what it should be.
 */
import type { IncomingMessage } from 'node:http';
import { MAX_CONFIG_BYTES } from '../config/source.js';
import { HttpError } from '../net/http-error.js';
import type { PipelineRequest } from './intake.js';
import { checkOwner } from './variables.js';

/** a config at the compiler's limit, plus room for the rest of the request */
export const MAX_BODY_BYTES = MAX_CONFIG_BYTES + 64 * 1024;

/** The body as JSON: refused when it is too large, not JSON, or not declared as JSON. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, `the body must be JSON: send Content-Type: application/json (got ${type ? JSON.stringify(type) : 'none'})`);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    throw new HttpError(413, `the body is ${declared} bytes; at most ${MAX_BODY_BYTES} are taken (a config is at most ${MAX_CONFIG_BYTES / 1048576} MB)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      req.destroy();
      throw new HttpError(413, `the body is over ${MAX_BODY_BYTES} bytes; a config is at most ${MAX_CONFIG_BYTES / 1048576} MB`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * A body that may be left out (no Content-Length or 0, and not chunked): a JSON object with only
 * `fields`, or `{}` when empty. `example` shows a valid body, `takes` says what each field is.
 */
export async function readOptionalObject(req: IncomingMessage, fields: string[], example: string, takes: string): Promise<Record<string, unknown>> {
  const length = req.headers['content-length'];
  const empty = length === '0' || (length === undefined && req.headers['transfer-encoding'] === undefined);
  const body = empty ? {} : await readJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, `the body must be a JSON object such as ${example}, or empty`);
  const unknown = Object.keys(body).filter((k) => !fields.includes(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown field ${JSON.stringify(unknown[0])}; ${takes}`);
  return body as Record<string, unknown>;
}

const PIPELINE_FIELDS = ['config', 'repository', 'revision', 'branch', 'tag', 'parameters', 'project'];

export function pipelineRequest(body: unknown): PipelineRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object: {"config": YAML_TEXT} or {"repository": URL, "revision": REV}');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !PIPELINE_FIELDS.includes(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown field${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => JSON.stringify(k)).join(', ')}; a pipeline takes ${PIPELINE_FIELDS.join(', ')}`);
  for (const k of ['config', 'repository', 'revision', 'branch', 'tag', 'project']) {
    if (b[k] !== undefined && (typeof b[k] !== 'string' || b[k] === '')) throw new HttpError(400, `"${k}" must be a non-empty string`);
  }
  if ((b.config === undefined) === (b.repository === undefined)) throw new HttpError(400, 'give either "config" (the config.yml text) or "repository" with "revision", not both or neither');
  if (b.repository !== undefined && b.revision === undefined) throw new HttpError(400, '"repository" needs "revision": the commit, branch or tag to check out');
  if (b.branch !== undefined && b.tag !== undefined) throw new HttpError(400, 'give "branch" or "tag", not both: a tag pipeline has no branch, as on CircleCI');
  const request: PipelineRequest = {};
  for (const k of ['config', 'repository', 'revision', 'branch', 'tag', 'project'] as const) if (typeof b[k] === 'string') request[k] = b[k];
  if (request.project !== undefined) checkOwner('project', request.project);
  if (b.parameters !== undefined) {
    const p = b.parameters;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new HttpError(400, '"parameters" must be an object of pipeline parameter values');
    for (const [k, v] of Object.entries(p)) {
      if (!['string', 'number', 'boolean'].includes(typeof v)) throw new HttpError(400, `pipeline parameter "${k}" must be a string, number or boolean`);
    }
    request.parameters = p as Record<string, string | number | boolean>;
  }
  return request;
}
