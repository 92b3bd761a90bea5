/**
 * Build step (`make build`): writes the config schema's validator as standalone ajv code next to
 * the compiled validate.js, so that `deckhand config validate` does not compile the schema at
 * every start. validate.ts falls back to compiling at run time when the file is missing.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { configSchemaAjv, GENERATED_VALIDATOR } from './validate.js';

// ajv's standalone entry is CommonJS; require it to get its typed default export
const { default: standaloneCode } = createRequire(import.meta.url)('ajv/dist/standalone') as typeof import('ajv/dist/standalone/index.js');
const { ajv, schema } = configSchemaAjv({ standalone: true });
const validate = ajv.compile(schema);
writeFileSync(GENERATED_VALIDATOR, standaloneCode(ajv, validate));
process.stdout.write(`wrote ${GENERATED_VALIDATOR}\n`);
