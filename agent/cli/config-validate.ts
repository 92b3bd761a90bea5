/** `deckhand config validate`: every structural problem at once, then the compiler's verdict. */
import { checkShape, compileSource } from '../config/compile.js';
import { ConfigError, formatDiagnostic } from '../config/diagnostics.js';
import { loadYamlFile } from '../config/source.js';
import { readGitInfo } from '../config/git-info.js';

export function validateCommand(file: string): number {
  try {
    const root = loadYamlFile(file);
    const problems = checkShape(root, file);
    if (problems.length === 0) {
      const git = readGitInfo(process.cwd());
      compileSource(root, file, { branch: git.branch, revision: git.revision });
    }
    for (const p of problems) process.stderr.write(`${formatDiagnostic(p)}\n`);
    if (problems.length > 0) return 1;
    process.stdout.write(`${file}: valid\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const d of err.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
    return 1;
  }
}
