/**
 * Checks a JobAssignment read from elsewhere (a file, stdin, a Nomad dispatch payload) against its
 * JSON Schema, which includes the JobSpec's. The first problem is reported as one line: its JSON
 * path (`$.run.nodeIndex`), what was expected and what was found. Nothing starts on a bad one.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { closest } from '../config/suggest.js';
import { DeckhandError } from '../errors.js';
import { JOBSPEC_VERSION } from '../jobspec/jobspec.js';
import { packagePath } from '../package-root.js';
import { ASSIGNMENT_VERSION, type JobAssignment } from './assignment.js';

/** A wrong assignment: an input error (exit 2), its message naming where it came from and the JSON path. */
export class AssignmentError extends DeckhandError {
  override name = 'AssignmentError';

  constructor(message: string) {
    super(message, 'input');
  }
}

/** The standalone validator `make build` writes beside the compiled validate.js (agent/generate-validators.ts). */
export const GENERATED_ASSIGNMENT_VALIDATOR = packagePath('dist', 'agent', 'assignment', 'assignment-validator.generated.cjs');

/** An ajv holding the assignment schema and the JobSpec schema it refers to; also used at build time. */
export function assignmentSchemaAjv(options: { standalone?: boolean } = {}): { ajv: import('ajv').Ajv; schema: object } {
  const read = (...path: string[]): object => JSON.parse(readFileSync(packagePath(...path), 'utf8')) as object;
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  // the first problem only: one line to fix at a time, and no cost for the rest of a large spec
  const ajv = new Ajv({ allErrors: false, verbose: true, discriminator: true, strict: false, code: { source: options.standalone === true } });
  ajv.addSchema(read('agent', 'jobspec', 'jobspec.schema.json'));
  return { ajv, schema: read('agent', 'assignment', 'assignment.schema.json') };
}

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  try {
    // compiling both schemas costs tens of milliseconds at every start; the build does it once
    const mod = createRequire(import.meta.url)(GENERATED_ASSIGNMENT_VALIDATOR) as { default?: ValidateFunction } & ValidateFunction;
    compiled = mod.default ?? mod;
  } catch {
    const { ajv, schema } = assignmentSchemaAjv();
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** Parses assignment JSON text; `source` names it in messages (a file name, `-`, a URL). */
export function parseAssignmentText(text: string, source: string): JobAssignment {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new AssignmentError(`assignment ${source} is not JSON: ${(err as Error).message}`);
  }
  return parseAssignment(value, source);
}

/** The value typed as a JobAssignment, or an AssignmentError naming the first problem. */
export function parseAssignment(value: unknown, source: string): JobAssignment {
  const fail = (path: string, what: string): never => {
    throw new AssignmentError(`invalid assignment ${source}: ${path}: ${what}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('$', `expected a JSON object, got ${describe(value)}`);
  const doc = value as Record<string, unknown>;
  // versions first, with what this agent reads: a newer dispatcher is the likely cause
  if (doc.assignmentVersion !== ASSIGNMENT_VERSION) {
    if (doc.assignmentVersion === undefined) fail('$.assignmentVersion', `missing; expected ${ASSIGNMENT_VERSION}`);
    fail('$.assignmentVersion', `version ${JSON.stringify(doc.assignmentVersion)} is not supported; this deckhand reads version ${ASSIGNMENT_VERSION}`);
  }
  const spec = doc.spec as Record<string, unknown> | undefined;
  if (spec && typeof spec === 'object' && spec.schemaVersion !== undefined && spec.schemaVersion !== JOBSPEC_VERSION) {
    fail('$.spec.schemaVersion', `JobSpec version ${JSON.stringify(spec.schemaVersion)} is not supported; this deckhand reads version ${JOBSPEC_VERSION}`);
  }
  const validate = validator();
  if (!validate(value)) {
    const e = firstProblem(validate.errors ?? []);
    fail(jsonPath(e), expectation(e));
  }
  const a = value as JobAssignment;
  // what the schema cannot say
  if (a.run.nodeIndex >= a.run.nodeTotal) fail('$.run.nodeIndex', `expected a node index below nodeTotal (${a.run.nodeTotal}), got ${a.run.nodeIndex}`);
  if (a.output?.tls && (a.output.tls.cert === undefined) !== (a.output.tls.key === undefined)) {
    fail('$.output.tls', 'expected cert and key together (a client certificate and its private key), or neither');
  }
  if (a.output && a.output.token && a.output.tokenSecretFile !== undefined) fail('$.output', 'expected one of token and tokenSecretFile, got both');
  if (a.secrets.contexts && a.secrets.contexts.names.length > 0 && (a.secrets.contexts.file === undefined) === (a.secrets.contexts.dir === undefined)) {
    fail('$.secrets.contexts', 'expected exactly one of file (a YAML map of context name to variables) and dir (a folder of NAME.env files)');
  }
  if (a.ssh) {
    if (a.ssh.port !== undefined && a.ssh.ports !== undefined) fail('$.ssh', 'expected one of port and ports, got both');
    if (a.ssh.ports && a.ssh.ports.first > a.ssh.ports.last) fail('$.ssh.ports', `expected first (${a.ssh.ports.first}) at most last (${a.ssh.ports.last})`);
    if (a.ssh.enabled && (a.ssh.authorizedKeys ?? []).length === 0 && (a.ssh.authorizedKeyLines ?? []).length === 0) {
      fail('$.ssh.authorizedKeys', 'expected at least one public key when ssh is enabled: files in authorizedKeys, or lines in authorizedKeyLines');
    }
  }
  return a;
}

/**
 * With oneOf (an output that may be null) ajv reports each failed branch and then the oneOf
 * itself; the deepest error is the one that says what is wrong.
 */
function firstProblem(errors: ErrorObject[]): ErrorObject {
  const concrete = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const pool = concrete.length > 0 ? concrete : errors;
  // a null branch's "must be null" says less than the object branch's own problem
  const candidates = pool.filter((e) => !(e.keyword === 'type' && (e.params as { type?: string }).type === 'null')) ;
  const list = candidates.length > 0 ? candidates : pool;
  return list.reduce((best, e) => (depth(e) > depth(best) ? e : best), list[0]);
}

function depth(e: ErrorObject): number {
  return e.instancePath.split('/').length + (e.keyword === 'required' || e.keyword === 'additionalProperties' ? 1 : 0);
}

/** `/run/nodeIndex` → `$.run.nodeIndex`; `/spec/steps/0` → `$.spec.steps[0]`; the missing or unknown key appended. */
function jsonPath(e: ErrorObject): string {
  const segments = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as { missingProperty?: string; additionalProperty?: string };
  if (e.keyword === 'required' && params.missingProperty) segments.push(params.missingProperty);
  if (e.keyword === 'additionalProperties' && params.additionalProperty) segments.push(params.additionalProperty);
  if (e.keyword === 'discriminator') segments.push(String((e.params as { tag?: string }).tag));
  return `$${segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`)).join('')}`;
}

function expectation(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  const got = `got ${describe(e.data)}`;
  const schema = (e.parentSchema ?? {}) as { description?: string; properties?: Record<string, unknown> };
  switch (e.keyword) {
    case 'required':
      return 'missing (required)';
    case 'additionalProperties': {
      const known = Object.keys(schema.properties ?? {});
      const near = closest(String(params.additionalProperty), known);
      return `unknown field${near ? `; did you mean "${near}"?` : known.length > 0 ? ` (expected one of ${known.join(', ')})` : ''}`;
    }
    case 'type':
      return `expected ${article(String(params.type))}, ${got}`;
    case 'const':
      return `expected ${JSON.stringify(params.allowedValue)}, ${got}`;
    case 'enum':
      return `expected one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, ${got}`;
    case 'discriminator': {
      const tag = String(params.tag);
      const value = typeof e.data === 'object' && e.data !== null ? (e.data as Record<string, unknown>)[tag] : undefined;
      const known = ((e.parentSchema as { oneOf?: { properties?: Record<string, { const?: unknown }> }[] }).oneOf ?? []).map((branch) => branch.properties?.[tag]?.const).filter((v) => v !== undefined);
      const expected = known.length > 0 ? `one of ${known.map((v) => JSON.stringify(v)).join(', ')}` : `a known ${tag}`;
      return `expected ${params.error === 'mapping' ? expected : `a string: ${expected}`}, got ${describe(value)}`;
    }
    case 'pattern':
    case 'format':
      return `expected ${schema.description ?? `a string matching ${String(params.pattern ?? params.format)}`}, ${got}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `expected a number ${String(params.comparison)} ${String(params.limit)}, ${got}`;
    case 'minLength':
      return `expected a non-empty string, ${got}`;
    case 'minItems':
      return `expected at least ${String(params.limit)} item(s), ${got}`;
    case 'minProperties':
    case 'maxProperties':
      return `expected ${e.message ?? 'another number of fields'}, ${got}`;
    default:
      return `${e.message ?? 'invalid'}, ${got}`;
  }
}

function article(type: string): string {
  const name = type === 'integer' ? 'whole number' : type;
  return type === 'null' ? 'null' : `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
}

/** A short description of a JSON value for messages: its type and, for scalars, the value. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 60 ? `${text.slice(0, 57)}...` : text}`;
}
