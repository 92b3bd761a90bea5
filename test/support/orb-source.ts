/** Orb source folders that tests write for themselves: relative path → file contents. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function writeTree(files: Record<string, string>, dir = mkdtempSync(join(tmpdir(), 'deckhand-orb-src-'))): string {
  for (const [path, text] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return dir;
}
