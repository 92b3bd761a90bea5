/**
 * Build step (`make build`): writes the config schema's and the assignment schema's validators as
 * standalone ajv code next to the compiled modules that use them, so that no command compiles a
 * schema at start-up (the config schema alone costs ~250 ms). Each module falls back to compiling
 * at run time when its generated file is missing.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { assignmentSchemaAjv, GENERATED_ASSIGNMENT_VALIDATOR } from './assignment/validate.js';
import { configSchemaAjv, GENERATED_VALIDATOR } from './config/schema/validate.js';

// ajv's standalone entry is CommonJS; require it to get its typed default export
const { default: standaloneCode } = createRequire(import.meta.url)('ajv/dist/standalone') as typeof import('ajv/dist/standalone/index.js');
for (const [file, { ajv, schema }] of [
  [GENERATED_VALIDATOR, configSchemaAjv({ standalone: true })],
  [GENERATED_ASSIGNMENT_VALIDATOR, assignmentSchemaAjv({ standalone: true })],
] as const) {
  writeFileSync(file, standaloneCode(ajv, ajv.compile(schema)));
  process.stdout.write(`wrote ${file}\n`);
}
