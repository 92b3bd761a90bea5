/**
 * Where deckhand's own files are: the folder holding its package.json. Files that ship beside
 * the code (schemas, the job tools script, the .proto, the generated validator) are found from
 * here, so the same code works compiled file-by-file under dist/ and bundled into dist/bundle/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'deckhand') return (root = dir);
      } catch {
        // an unreadable package.json is not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find deckhand's package.json above ${fileURLToPath(import.meta.url)}; reinstall deckhand`);
    dir = parent;
  }
}

/** An absolute path to a file shipped with deckhand, e.g. `packagePath('agent', 'jobspec', 'jobspec.schema.json')`. */
export function packagePath(...segments: string[]): string {
  return join(packageRoot(), ...segments);
}
