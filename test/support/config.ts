/** Helpers for compiler tests: compile YAML text, get a JobSpec, assert positioned errors. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileText, findJob, type CompileOptions, type CompiledConfig } from '../../agent/config/compile.js';
import { ConfigError } from '../../agent/config/diagnostics.js';
import { OrbRegistry } from '../../agent/config/orb-registry.js';
import { toJobSpec } from '../../agent/config/to-jobspec.js';
import type { JobSpec } from '../../agent/jobspec/jobspec.js';

/** An empty registry in a fresh temporary DECKHAND_HOME. */
export function emptyRegistry(): OrbRegistry {
  return new OrbRegistry(mkdtempSync(join(tmpdir(), 'deckhand-home-')));
}

export function compile(text: string, opts: CompileOptions = {}): CompiledConfig {
  return compileText(text, 'config.yml', { registry: opts.registry ?? emptyRegistry(), ...opts });
}

export function jobSpec(text: string, job: string, opts: CompileOptions = {}): JobSpec {
  const compiled = compile(text, opts);
  const found = findJob(compiled, job);
  return toJobSpec(compiled, found.job, found.wfJob, found.workflow?.name);
}

/** Asserts that `fn` fails with a ConfigError whose first problem is at line:col and matches `re`. */
export function assertConfigError(fn: () => unknown, line: number | undefined, col: number | undefined, re: RegExp): ConfigError {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const d = err.diagnostics[0];
    assert.match(d.message, re, `message: ${d.message}`);
    if (line !== undefined) assert.equal(d.pos?.line, line, `line of: ${err.message}`);
    if (col !== undefined) assert.equal(d.pos?.col, col, `col of: ${err.message}`);
    return err;
  }
  assert.fail(`expected a ConfigError matching ${re}`);
}

/** Strips a common indent so configs can be written indented inside tests. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const raw = strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ''), '');
  const lines = raw.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}
