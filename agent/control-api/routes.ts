/**
 * The control API's HTTP routes (docs/control-api.md lists each): JSON under /api/v1, the token's
 * scope checked before anything is read, bodies read up to a limit, every refusal answered as
 * `{"error": one line saying what and how to fix}`. A config that does not compile answers 422
 * with `problems`, the `FILE:LINE:COL: message` lines of `deckhand config validate`.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listArtifacts } from '../artifacts/catalog.js';
import { ConfigError, formatDiagnostic, sortUnique } from '../config/diagnostics.js';
import { DeckhandError, httpStatusFor } from '../errors.js';
import { HttpError } from '../net/http-error.js';
import { JSON_TYPE, PLAIN_TEXT, SAFETY_HEADERS, sendHead } from '../net/http-headers.js';
import { sendJson } from '../net/request-handler.js';
import { pathSegments } from '../net/url-path.js';
import type { BlobStore } from '../store/blob-store.js';
import { readTestResults } from '../test-results/stored-results.js';
import type { AuditEntity, AuditLog } from './audit.js';
import { auditCsv, SERVICE_ACTOR } from './audit.js';
import type { Caller, Scope, TokenFile } from './auth.js';
import type { PipelineRequest } from './intake.js';
import { pipelineRequest, readJson, readOptionalObject } from './request-body.js';
import { jobJson, pipelineJson, workflowJson } from './views.js';
import { nodeLogFile } from './local-backend.js';
import type { ControlMetrics } from './metrics.js';
import { renderPage } from './page.js';
import { sshKeysFor, type ServiceSshSettings } from './rerun-ssh.js';
import type { Scheduler } from './scheduler.js';
import { checkOwner, type VariableStore } from './variables.js';
import { isFinal, type ControlStore, type JobRow, type NodeRow, type PipelineRow } from './store.js';

export interface RouteContext {
  store: ControlStore;
  scheduler: Scheduler;
  tokens: TokenFile;
  audit: AuditLog;
  metrics: ControlMetrics;
  logsDir: string;
  variables: VariableStore;
  /** the output processor's HTTP side, for links to live pages */
  liveUrl?: string;
  /** reruns with SSH: the service's keys and where their request's keys are kept */
  ssh: ServiceSshSettings;
  sshKeysDir: string;
  submit(request: PipelineRequest, caller: Caller, requestId: string): Promise<PipelineRow>;
  openStore(): Promise<BlobStore>;
  draining(): boolean;
  drain(): void;
  status(): Record<string, unknown>;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  id: string;
  query: URLSearchParams;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function controlRoutes(ctx: RouteContext): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const id = typeof req.headers['x-request-id'] === 'string' && /^[\w.-]{1,64}$/.test(req.headers['x-request-id']) ? req.headers['x-request-id'] : randomUUID();
    res.setHeader('x-request-id', id);
    const parsed = pathSegments(req.url ?? '/');
    if ('error' in parsed) throw new HttpError(400, parsed.error);
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const r: Request = { req, res, id, query };
    const route = match(req.method ?? 'GET', parsed.segments);
    res.once('close', () => ctx.metrics.request(route?.name ?? 'unknown', res.statusCode));
    if (!route) throw new HttpError(404, `no route ${req.method} ${(req.url ?? '').split('?')[0]}; see docs/control-api.md for the routes`);
    if (route.allowed && !route.allowed.includes(req.method ?? '')) throw new HttpError(405, `${req.method} is not allowed on ${route.name}; use ${route.allowed.join(' or ')}`);
    const caller = route.scope ? authorize(ctx, r, route.scope) : undefined;
    await route.serve(ctx, r, route.params, caller!);
  };
}

interface Route {
  name: string;
  scope?: Scope;
  allowed?: string[];
  params: string[];
  serve(ctx: RouteContext, r: Request, params: string[], caller: Caller): Promise<void> | void;
}

function match(method: string, s: string[]): Route | undefined {
  const is = (...parts: string[]): boolean => s.length === parts.length && parts.every((p, i) => p === '*' || p === s[i]);
  const route = (name: string, scope: Scope | undefined, allowed: string[], serve: Route['serve'], params: string[] = []): Route => ({ name, ...(scope ? { scope } : {}), allowed, params, serve });
  if (is('health-check')) return route('/health-check', undefined, ['GET', 'HEAD'], (_c, r) => sendJson(r.res, 200, { status: 'ok' }));
  if (is('status')) return route('/status', 'read', ['GET'], (c, r) => sendJson(r.res, 200, c.status()));
  if (is('metrics')) return route('/metrics', 'read', ['GET'], serveMetrics);
  if (is('') || is('ui')) return route('/', 'read', ['GET'], (c, r) => sendHtml(r.res, renderPage(c.store, c.liveUrl)));
  if (s[0] !== 'api' || s[1] !== 'v1') return undefined;
  const rest = s.slice(2);
  const at = (...parts: string[]): boolean => rest.length === parts.length && parts.every((p, i) => p === '*' || p === rest[i]);
  if (at('pipelines')) return method === 'POST' ? route('POST /api/v1/pipelines', 'submit', ['GET', 'POST'], submitPipeline) : route('GET /api/v1/pipelines', 'read', ['GET', 'POST'], listPipelines);
  if (at('pipelines', '*')) return route('/api/v1/pipelines/ID', 'read', ['GET'], getPipeline, [rest[1]]);
  if (at('pipelines', '*', 'workflow')) return route('/api/v1/pipelines/ID/workflow', 'read', ['GET'], listWorkflows, [rest[1]]);
  if (at('workflows', '*')) return route('/api/v1/workflows/ID', 'read', ['GET'], getWorkflow, [rest[1]]);
  if (at('workflows', '*', 'job')) return route('/api/v1/workflows/ID/job', 'read', ['GET'], listJobs, [rest[1]]);
  if (at('workflows', '*', 'rerun')) return route('/api/v1/workflows/ID/rerun', 'submit', ['POST'], rerunWorkflow, [rest[1]]);
  if (at('workflows', '*', 'cancel')) return route('/api/v1/workflows/ID/cancel', 'submit', ['POST'], cancelWorkflow, [rest[1]]);
  if (at('jobs', '*')) return route('/api/v1/jobs/ID', 'read', ['GET'], getJob, [rest[1]]);
  if (at('jobs', '*', 'output')) return route('/api/v1/jobs/ID/output', 'read', ['GET'], jobOutput, [rest[1]]);
  if (at('jobs', '*', 'artifacts')) return route('/api/v1/jobs/ID/artifacts', 'read', ['GET'], jobArtifacts, [rest[1]]);
  if (at('jobs', '*', 'tests')) return route('/api/v1/jobs/ID/tests', 'read', ['GET'], jobTests, [rest[1]]);
  if (at('jobs', '*', 'cancel')) return route('/api/v1/jobs/ID/cancel', 'submit', ['POST'], cancelJob, [rest[1]]);
  if (at('jobs', '*', 'rerun')) return route('/api/v1/jobs/ID/rerun', 'submit', ['POST'], rerunJob, [rest[1]]);
  if (at('jobs', '*', 'approve')) return route('/api/v1/jobs/ID/approve', 'submit', ['POST'], approveJob, [rest[1]]);
  if (at('projects', '*', 'envvar')) return route('/api/v1/projects/NAME/envvar', 'admin', ['GET', 'POST'], projectVariables, [rest[1]]);
  if (at('projects', '*', 'envvar', '*')) return route('/api/v1/projects/NAME/envvar/VAR', 'admin', ['DELETE'], projectVariable, [rest[1], rest[3]]);
  if (at('contexts', '*', 'environment-variable')) return route('/api/v1/contexts/NAME/environment-variable', 'admin', ['GET'], contextVariables, [rest[1]]);
  if (at('contexts', '*', 'environment-variable', '*')) return route('/api/v1/contexts/NAME/environment-variable/VAR', 'admin', ['PUT', 'DELETE'], contextVariable, [rest[1], rest[3]]);
  if (at('audit')) return route('/api/v1/audit', 'admin', ['GET'], getAudit);
  if (at('drain')) return route('/api/v1/drain', 'admin', ['POST'], drain);
  return undefined;
}

function authorize(ctx: RouteContext, r: Request, scope: Scope): Caller {
  // a page opened in a browser carries its token in the query
  const header = r.req.headers.authorization ?? (r.query.get('token') ? `Bearer ${r.query.get('token')}` : undefined);
  const outcome = ctx.tokens.check(header, scope);
  if (outcome.ok) return outcome.caller;
  ctx.audit.record({
    action: 'token.use.refuse',
    actor: outcome.caller ? actorOf(outcome.caller) : { id: 'anonymous', type: 'token' },
    target: { id: `${r.req.method} ${(r.req.url ?? '').split('?')[0]}`, type: 'route' },
    payload: { status: outcome.status, reason: outcome.reason },
    success: false,
    requestId: r.id,
    metadata: { remote: r.req.socket.remoteAddress ?? '' },
  });
  if (outcome.status === 401) r.res.setHeader('www-authenticate', 'Bearer realm="deckhand"');
  throw new HttpError(outcome.status, outcome.reason);
}

export const actorOf = (caller: Caller): AuditEntity => ({ id: caller.id, type: `token:${caller.scope}` });

async function serveMetrics(ctx: RouteContext, r: Request): Promise<void> {
  const text = await ctx.metrics.text();
  sendHead(r.res, 200, { 'content-type': ctx.metrics.contentType, 'content-length': Buffer.byteLength(text), ...SAFETY_HEADERS }).end(text);
}

async function submitPipeline(ctx: RouteContext, r: Request, _p: string[], caller: Caller): Promise<void> {
  if (ctx.draining()) throw new HttpError(503, 'the service is draining: it finishes what runs and takes no new pipelines; submit to another instance or restart this one');
  const body = await readJson(r.req);
  const request = pipelineRequest(body);
  let pipeline: PipelineRow;
  try {
    pipeline = await ctx.submit(request, caller, r.id);
  } catch (err) {
    if (err instanceof ConfigError) {
      const problems = sortUnique([...err.warnings, ...err.diagnostics], err.diagnostics[0]?.pos?.file).map(formatDiagnostic);
      sendJson(r.res, 422, { error: `the config does not compile (${err.diagnostics.length} problem${err.diagnostics.length === 1 ? '' : 's'}); fix each line of problems (deckhand config validate shows the same)`, problems });
      return;
    }
    if (err instanceof DeckhandError) throw new HttpError(err.kind === 'input' ? 422 : httpStatusFor(err.kind), err.message);
    throw err;
  }
  r.res.setHeader('location', `/api/v1/pipelines/${pipeline.id}`);
  sendJson(r.res, 201, { id: pipeline.id, number: pipeline.number, state: pipeline.state, created_at: pipeline.createdAt });
}

function listPipelines(ctx: RouteContext, r: Request): void {
  const limit = Math.min(100, Math.max(1, Number(r.query.get('limit') ?? 20) || 20));
  sendJson(r.res, 200, { items: ctx.store.pipelines(limit).map((p) => pipelineJson(ctx, p)) });
}

function getPipeline(ctx: RouteContext, r: Request, [id]: string[]): void {
  sendCached(ctx, r, `pipeline:${id}`, () => pipelineJson(ctx, found(ctx.store.pipeline(checkId(id, 'pipeline')), 'pipeline', id)));
}

/** CircleCI API v2's `GET /pipeline/{id}/workflow`: the pipeline's workflows, without their jobs */
function listWorkflows(ctx: RouteContext, r: Request, [id]: string[]): void {
  const p = found(ctx.store.pipeline(checkId(id, 'pipeline')), 'pipeline', id);
  const items = ctx.store.workflowsOf(p.id).map((w) => {
    const { jobs: _jobs, ...workflow } = workflowJson(ctx, w.id);
    return { ...workflow, pipeline_id: p.id, pipeline_number: p.number };
  });
  sendJson(r.res, 200, { items });
}

/** CircleCI API v2's `GET /workflow/{id}/job`: the workflow's jobs */
function listJobs(ctx: RouteContext, r: Request, [id]: string[]): void {
  const wf = found(ctx.store.workflow(checkId(id, 'workflow')), 'workflow', id);
  sendJson(r.res, 200, { items: ctx.store.jobsOf(wf.id).map((j) => jobJson(ctx, j, false)) });
}

function getWorkflow(ctx: RouteContext, r: Request, [id]: string[]): void {
  const wf = found(ctx.store.workflow(checkId(id, 'workflow')), 'workflow', id);
  sendJson(r.res, 200, { ...workflowJson(ctx, wf.id), pipeline_id: wf.pipelineId });
}

function cancelWorkflow(ctx: RouteContext, r: Request, [id]: string[], caller: Caller): void {
  const wf = found(ctx.store.workflow(checkId(id, 'workflow')), 'workflow', id);
  if (wf.status !== 'running' && wf.status !== 'on_hold') throw new HttpError(409, `workflow ${id} has already ended (${wf.status}); there is nothing to cancel`);
  ctx.scheduler.cancelWorkflow(wf.id, actorOf(caller), r.id);
  sendJson(r.res, 202, workflowJson(ctx, wf.id));
}

async function rerunWorkflow(ctx: RouteContext, r: Request, [id]: string[], caller: Caller): Promise<void> {
  const wf = found(ctx.store.workflow(checkId(id, 'workflow')), 'workflow', id);
  refuseRerunWhileDraining(ctx);
  const b = await readOptionalObject(r.req, ['from_failed', 'enable_ssh', 'authorized_keys'], '{"from_failed": true}', 'a rerun takes "from_failed" (true or false), "enable_ssh" (true or false) and "authorized_keys" (public key lines)');
  const fromFailed = b.from_failed ?? false;
  if (typeof fromFailed !== 'boolean') throw new HttpError(400, '"from_failed" must be true or false');
  const ssh = b.enable_ssh ?? false;
  if (typeof ssh !== 'boolean') throw new HttpError(400, '"enable_ssh" must be true or false');
  if (!ssh && b.authorized_keys !== undefined) throw new HttpError(400, '"authorized_keys" only applies with "enable_ssh": true');
  if (wf.status === 'running' || wf.status === 'on_hold') throw new HttpError(409, `workflow ${id} is still ${wf.status}; cancel it or wait for its end before a rerun`);
  if (fromFailed && wf.status !== 'failed') throw new HttpError(409, `workflow ${id} ended ${wf.status}: only a failed workflow reruns from failed; rerun it whole with {"from_failed": false}`);
  const request = ssh ? sshKeysFor(b.authorized_keys, ctx.ssh, ctx.sshKeysDir, randomUUID()) : undefined;
  const rerun = ctx.scheduler.rerunWorkflow(wf.id, fromFailed, actorOf(caller), r.id, request);
  r.res.setHeader('location', `/api/v1/workflows/${rerun}`);
  sendJson(r.res, 201, { ...workflowJson(ctx, rerun), pipeline_id: wf.pipelineId });
}

/**
 * Reruns an ended job as a new job run (in a new workflow run, as CircleCI's "Rerun job with SSH"
 * does); with `"ssh": true` (or CircleCI's `"enable_ssh"`) its assignment enables SSH, and the
 * job's answer shows the ssh line once its server listens.
 */
async function rerunJob(ctx: RouteContext, r: Request, [id]: string[], caller: Caller): Promise<void> {
  const job = found(ctx.store.job(checkId(id, 'job')), 'job', id);
  refuseRerunWhileDraining(ctx);
  const b = await readOptionalObject(r.req, ['ssh', 'enable_ssh', 'authorized_keys'], '{"ssh": true}', 'a job rerun takes "ssh" (true or false) and "authorized_keys" (public key lines)');
  const ssh = b.ssh ?? b.enable_ssh ?? false;
  if (typeof ssh !== 'boolean') throw new HttpError(400, '"ssh" must be true or false');
  if (!ssh && b.authorized_keys !== undefined) throw new HttpError(400, '"authorized_keys" only applies with "ssh": true');
  if (job.type !== 'build' || !job.spec || job.spec.executor.kind === 'none') throw new HttpError(409, `job ${id} (${job.name}) is a ${job.type} job with nothing to run; only jobs with steps are rerun`);
  if (!isFinal(job.status)) throw new HttpError(409, `job ${id} (${job.name}) is still ${job.status}; cancel it or wait for its end before a rerun`);
  if (!job.startedAt || job.status === 'not_run') throw new HttpError(409, `job ${id} (${job.name}) never ran (${job.status}); rerun its workflow with POST /api/v1/workflows/${job.workflowId}/rerun instead`);
  const request = ssh ? sshKeysFor(b.authorized_keys, ctx.ssh, ctx.sshKeysDir, randomUUID()) : undefined;
  const rerun = ctx.scheduler.rerunJob(job.id, request, actorOf(caller), r.id);
  r.res.setHeader('location', `/api/v1/jobs/${rerun.id}`);
  sendJson(r.res, 201, jobJson(ctx, rerun, true));
}

function getJob(ctx: RouteContext, r: Request, [id]: string[]): void {
  sendCached(ctx, r, `job:${id}`, () => jobJson(ctx, found(ctx.store.job(checkId(id, 'job')), 'job', id), true));
}

/**
 * Status reads come from pollers, many per second for the same object: an answer is reused while
 * the store has not changed since it was made (any write bumps its version).
 */
const answers = new WeakMap<ControlStore, { version: number; texts: Map<string, string> }>();
function sendCached(ctx: RouteContext, r: Request, key: string, make: () => unknown): void {
  let cache = answers.get(ctx.store);
  if (!cache || cache.version !== ctx.store.version) {
    cache = { version: ctx.store.version, texts: new Map() };
    answers.set(ctx.store, cache);
  }
  let text = cache.texts.get(key);
  if (text === undefined) {
    text = `${JSON.stringify(make())}\n`;
    if (cache.texts.size < 10_000) cache.texts.set(key, text);
  }
  sendHead(r.res, 200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...SAFETY_HEADERS }).end(text);
}

function cancelJob(ctx: RouteContext, r: Request, [id]: string[], caller: Caller): void {
  const job = found(ctx.store.job(checkId(id, 'job')), 'job', id);
  if (isFinal(job.status)) throw new HttpError(409, `job ${id} has already ended (${job.status}); there is nothing to cancel`);
  ctx.scheduler.cancelJob(job.id, actorOf(caller), r.id);
  sendJson(r.res, 202, jobJson(ctx, ctx.store.job(job.id)!, false));
}

function approveJob(ctx: RouteContext, r: Request, [id]: string[], caller: Caller): void {
  const job = found(ctx.store.job(checkId(id, 'job')), 'job', id);
  if (job.type !== 'approval') throw new HttpError(409, `job ${id} (${job.name}) is not an approval job; only type: approval jobs are approved`);
  if (job.status !== 'on_hold') throw new HttpError(409, `approval job ${id} (${job.name}) is ${job.status}, not on_hold; ${job.status === 'blocked' ? 'wait until the jobs it requires have ended' : 'it cannot be approved again'}`);
  sendJson(r.res, 202, jobJson(ctx, ctx.scheduler.approve(job.id, actorOf(caller), r.id), false));
}

async function jobOutput(ctx: RouteContext, r: Request, [id]: string[]): Promise<void> {
  const job = found(ctx.store.job(checkId(id, 'job')), 'job', id);
  const nodes = nodesAsked(ctx, job, r.query);
  const files = nodes.map((n) => nodeLogFile(ctx.logsDir, n.id)).filter((f) => existsSync(f));
  // sizes taken now: bytes a running job writes later are for the next read
  const sizes = files.map((f) => statSync(f).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const headers: Record<string, string | number> = { 'content-type': PLAIN_TEXT, 'content-length': total, 'cache-control': 'no-cache', ...SAFETY_HEADERS };
  if (ctx.liveUrl && nodes[0]) headers.link = `<${ctx.liveUrl}/jobs/${nodes[0].id}>; rel="alternate"; type="text/html"`;
  sendHead(r.res, 200, headers);
  for (const [i, f] of files.entries()) {
    if (sizes[i] === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const s = createReadStream(f, { start: 0, end: sizes[i] - 1 });
      s.on('error', reject);
      s.on('end', resolve);
      s.pipe(r.res, { end: false });
    });
  }
  r.res.end();
}

async function jobArtifacts(ctx: RouteContext, r: Request, [id]: string[]): Promise<void> {
  const job = found(ctx.store.job(checkId(id, 'job')), 'job', id);
  const store = await ctx.openStore();
  const items = [];
  for (const n of nodesAsked(ctx, job, r.query)) for (const a of await listArtifacts(store, n.id)) items.push({ node_index: n.index, run_id: n.id, ...a });
  sendJson(r.res, 200, { items });
}

async function jobTests(ctx: RouteContext, r: Request, [id]: string[]): Promise<void> {
  const job = found(ctx.store.job(checkId(id, 'job')), 'job', id);
  const store = await ctx.openStore();
  const items = [];
  for (const n of nodesAsked(ctx, job, r.query)) items.push({ node_index: n.index, run_id: n.id, results: await readTestResults(store, n.id) });
  sendJson(r.res, 200, { items });
}

function getAudit(ctx: RouteContext, r: Request, _p: string[], caller: Caller): void {
  const sinceText = r.query.get('since');
  const since = sinceText === null ? undefined : new Date(sinceText);
  if (since && Number.isNaN(since.getTime())) throw new HttpError(400, `since=${sinceText} is not a date; give an ISO-8601 time such as 2026-01-31T12:00:00Z`);
  const format = r.query.get('format') ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new HttpError(400, `format=${format} is not known; use json or csv`);
  ctx.audit.record({ action: 'audit.log.access', actor: actorOf(caller), target: { id: 'audit', type: 'audit_log' }, payload: { since: sinceText ?? '', format }, requestId: r.id });
  const events = ctx.audit.read(since);
  if (format === 'csv') {
    const text = auditCsv(events);
    sendHead(r.res, 200, { 'content-type': 'text/csv; charset=utf-8', 'content-length': Buffer.byteLength(text), 'content-disposition': 'attachment; filename="audit.csv"', ...SAFETY_HEADERS }).end(text);
    return;
  }
  sendJson(r.res, 200, { items: events });
}

async function projectVariables(ctx: RouteContext, r: Request, [project]: string[], caller: Caller): Promise<void> {
  checkOwner('project', project);
  const target = { id: project, type: 'project' };
  if (r.req.method === 'GET') {
    ctx.audit.record({ action: 'project.env_var.access', actor: actorOf(caller), target, requestId: r.id });
    sendJson(r.res, 200, { items: ctx.variables.list('project', project) });
    return;
  }
  const body = await readJson(r.req);
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  if (typeof b.name !== 'string' || typeof b.value !== 'string' || Object.keys(b).some((k) => k !== 'name' && k !== 'value')) throw new HttpError(400, 'the body must be {"name": NAME, "value": VALUE}, both strings');
  const stored = ctx.variables.set('project', project, b.name, b.value);
  ctx.audit.record({ action: 'project.env_var.create', actor: actorOf(caller), target, payload: { name: stored.name, replaced: !stored.created }, requestId: r.id });
  sendJson(r.res, 201, { name: stored.name, value: stored.value });
}

function projectVariable(ctx: RouteContext, r: Request, [project, name]: string[], caller: Caller): void {
  checkOwner('project', project);
  if (!ctx.variables.delete('project', project, name)) throw new HttpError(404, `project ${project} has no variable ${name}; list them with GET /api/v1/projects/${project}/envvar`);
  ctx.audit.record({ action: 'project.env_var.delete', actor: actorOf(caller), target: { id: project, type: 'project' }, payload: { name }, requestId: r.id });
  sendJson(r.res, 200, { message: `${name} deleted` });
}

function contextVariables(ctx: RouteContext, r: Request, [context]: string[], caller: Caller): void {
  checkOwner('context', context);
  if (!ctx.variables.has('context', context)) throw new HttpError(404, `no context ${context}; store a variable in it with PUT /api/v1/contexts/${context}/environment-variable/NAME`);
  ctx.audit.record({ action: 'context.env_var.access', actor: actorOf(caller), target: { id: context, type: 'context' }, requestId: r.id });
  sendJson(r.res, 200, { items: ctx.variables.list('context', context).map((v) => ({ variable: v.name, value: v.value, context_id: context })) });
}

async function contextVariable(ctx: RouteContext, r: Request, [context, name]: string[], caller: Caller): Promise<void> {
  checkOwner('context', context);
  const target = { id: context, type: 'context' };
  if (r.req.method === 'DELETE') {
    if (!ctx.variables.delete('context', context, name)) throw new HttpError(404, `context ${context} has no variable ${name}`);
    ctx.audit.record({ action: 'context.env_var.delete', actor: actorOf(caller), target, payload: { name }, requestId: r.id });
    sendJson(r.res, 200, { message: `${name} deleted` });
    return;
  }
  const body = await readJson(r.req);
  const b = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  if (typeof b.value !== 'string' || Object.keys(b).some((k) => k !== 'value')) throw new HttpError(400, 'the body must be {"value": VALUE}, a string');
  const stored = ctx.variables.set('context', context, name, b.value);
  ctx.audit.record({ action: 'context.env_var.store', actor: actorOf(caller), target, payload: { name: stored.name, replaced: !stored.created }, requestId: r.id });
  sendJson(r.res, 200, { variable: stored.name, value: stored.value, context_id: context });
}

function drain(ctx: RouteContext, r: Request, _p: string[], caller: Caller): void {
  ctx.drain();
  ctx.audit.record({ action: 'service.drain', actor: actorOf(caller), target: SERVICE_ACTOR, requestId: r.id });
  sendJson(r.res, 202, ctx.status());
}

function nodesAsked(ctx: RouteContext, job: JobRow, query: URLSearchParams): NodeRow[] {
  const nodes = ctx.store.nodesOf(job.id);
  const asked = query.get('node');
  if (asked === null) return nodes;
  const node = nodes.find((n) => String(n.index) === asked);
  if (!node) throw new HttpError(404, `job ${job.id} has no node ${asked}; its nodes are 0-${Math.max(0, nodes.length - 1)}`);
  return [node];
}

function checkId(id: string, what: string): string {
  if (!UUID.test(id)) throw new HttpError(400, `${JSON.stringify(id.slice(0, 80))} is not a ${what} id; ids are lowercase UUIDs as POST /api/v1/pipelines and GET /api/v1/pipelines/ID answer`);
  return id;
}

function found<T>(row: T | undefined, what: string, id: string): T {
  if (row === undefined) throw new HttpError(404, `no ${what} ${id}; list pipelines with GET /api/v1/pipelines`);
  return row;
}

function sendHtml(res: ServerResponse, html: string): void {
  sendHead(res, 200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-cache', ...SAFETY_HEADERS }).end(html);
}

/** A rerun starts new work: not while the service drains. */
function refuseRerunWhileDraining(ctx: RouteContext): void {
  if (ctx.draining()) throw new HttpError(503, 'the service is draining: it starts no new work; rerun on another instance or restart this one');
}

