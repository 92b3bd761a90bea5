/**
 * Validates a JobSpec against its JSON Schema with ajv, listing every problem (the compiler's
 * tests check every JobSpec it makes). A JobSpec that arrives inside a JobAssignment is checked
 * by the assignment's validator (agent/assignment/validate.ts), which includes this schema.
 */
import type { ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { DeckhandError } from '../errors.js';
import { packagePath } from '../package-root.js';
import { JOBSPEC_VERSION, type JobSpec } from './jobspec.js';

let compiled: ValidateFunction | undefined;

/** The schema file ships beside the sources; loaded on first use only, to keep start-up fast. */
function validator(): ValidateFunction {
  if (!compiled) {
    const file = packagePath('agent', 'jobspec', 'jobspec.schema.json');
    const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    compiled = new Ajv({ allErrors: true, strict: false, discriminator: true }).compile(JSON.parse(readFileSync(file, 'utf8')) as object);
  }
  return compiled;
}

export class JobSpecError extends DeckhandError {
  override name = 'JobSpecError';

  constructor(message: string) {
    super(message, 'input');
  }
}

/** Returns the JobSpec typed, or throws one line per problem. */
export function parseJobSpec(data: unknown): JobSpec {
  if (typeof data === 'object' && data !== null && 'schemaVersion' in data && data.schemaVersion !== JOBSPEC_VERSION) {
    throw new JobSpecError(`JobSpec schemaVersion ${String(data.schemaVersion)} is not supported; this deckhand reads version ${JOBSPEC_VERSION}`);
  }
  const validate = validator();
  if (!validate(data)) {
    const lines = (validate.errors ?? []).slice(0, 10).map((e) => `JobSpec${e.instancePath || ''}: ${e.message ?? 'invalid'}`);
    throw new JobSpecError(lines.join('\n'));
  }
  return data as JobSpec;
}
