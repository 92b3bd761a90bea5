/**
 * `deckhand config validate`: every problem it can find in one run — each structural problem,
 * each missing orb (after fetching what it can), each workflow and job that does not compile —
 * with the warnings (keys CircleCI ignores, matrix values listed twice), sorted by position.
 */
import { checkShape, compileSource, orbScopes, prepareConfig, type CompileOptions } from '../config/compile.js';
import type { OrbRegistry } from '../config/orb-registry.js';
import { ConfigError, formatDiagnostic, isWarning, sortUnique, type Diagnostic } from '../config/diagnostics.js';
import { loadYamlFile, type Value } from '../config/source.js';
import { readGitInfo } from '../config/git-info.js';
import { fetchConfigOrbs, orbAccess, type OrbFlags } from './orb-access.js';

export async function validateCommand(file: string, flags: OrbFlags = {}): Promise<number> {
  const access = orbAccess(flags, process.env);
  let root: Value;
  try {
    root = loadYamlFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return report(err.diagnostics, file);
  }
  const git = readGitInfo(process.cwd());
  const options: CompileOptions & { registry: OrbRegistry } = { branch: git.branch, revision: git.revision, registry: access.registry };
  const shape = checkShape(root, file);
  const fetchProblems = await fetchConfigOrbs(root, file, options, access, true);
  if (shape.some((d) => !isWarning(d))) return report([...shape, ...missingOrbs(root, file, options, fetchProblems)], file);
  try {
    const compiled = compileSource(root, file, { ...options, orbFetchProblems: fetchProblems, collectProblems: true });
    report(compiled.warnings, file);
    const n = compiled.warnings.length;
    process.stdout.write(`${file}: valid${n ? ` (${n} warning${n === 1 ? '' : 's'})` : ''}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return report([...err.warnings, ...err.diagnostics], file);
  }
}

/** With structural problems the config is not compiled, but its missing orbs can still be told. */
function missingOrbs(root: Value, file: string, options: CompileOptions & { registry: OrbRegistry }, fetchProblems: ReadonlyMap<string, string>): Diagnostic[] {
  const out: Diagnostic[] = [];
  try {
    const prepared = prepareConfig(root, file, options, true);
    orbScopes(prepared, options.registry, (_ref, err) => void out.push(...err.diagnostics), fetchProblems);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
  }
  return out;
}

/** Prints problems and warnings in position order; 1 when any is an error. */
function report(diags: Diagnostic[], file: string): number {
  const all = sortUnique(diags, file);
  for (const d of all) process.stderr.write(`${formatDiagnostic(d)}\n`);
  return all.some((d) => !isWarning(d)) ? 1 : 0;
}
