/**
 * The test corpus: third-party data that is never copied into the repository — real public
 * `.circleci/config.yml` files (`configs/`) and CircleCI's expression test vectors (`expr/`, from
 * https://github.com/CircleCI-Public/expr). It is the folder `$DECKHAND_CORPUS` names or, when that
 * is unset, `../shared/corpus` relative to the repository root, where CI provides it.
 *
 * A test that reads it passes `corpusSkip()` as its `skip` option. Without the corpus the test is
 * skipped with one line naming the path looked at, except under CI (`CI` set): there it runs and
 * fails on corpusPath()'s error, so CI can never pass by skipping.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './repo-root.js';

/** Where the corpus is looked for: `$DECKHAND_CORPUS`, else `../shared/corpus` relative to the repository root. */
export function corpusDir(): string {
  const fromEnv = process.env.DECKHAND_CORPUS;
  return fromEnv ? path.resolve(fromEnv) : path.resolve(repoRoot(), '../shared/corpus');
}

/** True when the corpus folder exists. */
export function hasCorpus(): boolean {
  const dir = corpusDir();
  return existsSync(dir) && statSync(dir).isDirectory();
}

/**
 * node:test's `skip` option for a test that reads the corpus: false when the corpus is there, and
 * under CI (where the test then fails on corpusPath()); otherwise the one-line reason.
 */
export function corpusSkip(): string | false {
  if (hasCorpus() || process.env.CI) return false;
  return `test corpus not found at ${corpusDir()}; set DECKHAND_CORPUS to its folder`;
}

/** A path inside the corpus. Throws, saying where it looked and what to do, when the corpus is missing. */
export function corpusPath(...parts: string[]): string {
  if (!hasCorpus()) {
    const ci = process.env.CI ? ' (CI is set, so a missing corpus fails the tests that read it instead of skipping them)' : '';
    throw new Error(`the test corpus is missing: ${corpusDir()} is not a folder; set DECKHAND_CORPUS to the folder that holds configs/ and expr/${ci}`);
  }
  return path.join(corpusDir(), ...parts);
}
