/**
 * Validates a JobSpec against its JSON Schema with ajv — the check a consumer runs on a JobSpec
 * it did not compile itself (a Nomad dispatch payload, a file from another version).
 */
import type { ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { packagePath } from '../package-root.js';
import { JOBSPEC_VERSION, type JobSpec } from './jobspec.js';

let compiled: ValidateFunction | undefined;

/** The schema file ships beside the sources; loaded on first use only, to keep start-up fast. */
function validator(): ValidateFunction {
  if (!compiled) {
    const file = packagePath('agent', 'jobspec', 'jobspec.schema.json');
    const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    compiled = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(file, 'utf8')) as object);
  }
  return compiled;
}

export class JobSpecError extends Error {
  override name = 'JobSpecError';
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
