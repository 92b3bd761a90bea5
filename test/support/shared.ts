/**
 * Where third-party test data lives: `../shared` beside the repository (or `$DECKHAND_SHARED`).
 * The data is never copied into the repo. Locally a missing folder lets tests skip; under CI
 * (`CI` set) it is an error, so CI can never pass by silently skipping.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../agent/package-root.js';

/** The repository root (the agent's own lookup: the folder of deckhand's package.json). */
export const repoRoot = packageRoot;

function candidate(): string {
  const fromEnv = process.env.DECKHAND_SHARED;
  return fromEnv ? path.resolve(fromEnv) : path.resolve(repoRoot(), '../shared');
}

/** True when the shared folder exists (use to skip locally); throws under CI when it does not. */
export function hasShared(): boolean {
  const dir = candidate();
  if (existsSync(dir) && statSync(dir).isDirectory()) return true;
  if (process.env.CI) throw missing(dir);
  return false;
}

/** The shared test-data folder. Throws when it does not exist under CI; see hasShared() for skipping. */
export function sharedDir(): string {
  const dir = candidate();
  if (process.env.CI && !(existsSync(dir) && statSync(dir).isDirectory())) throw missing(dir);
  return dir;
}

function missing(dir: string): Error {
  return new Error(`shared test data folder ${dir} does not exist; set DECKHAND_SHARED to its location (required when CI is set)`);
}
