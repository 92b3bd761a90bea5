#!/bin/sh
':' //; exec node -- "$0" "$@"
// The two lines above start Node as `node -- bin/deckhand.js ARGS` (to sh they are a command; to
// JavaScript a string and a comment). Node 20 reads `--env-file` anywhere on its command line,
// a script's own arguments included, until a `--`: without it, `deckhand execute --env-file F`
// would have Node load F into the agent's environment and apply a NODE_OPTIONS line of it (a
// `--require` runs code) before Deckhand starts. `#!/usr/bin/env -S node --` would do the same
// where env has -S, which BusyBox's has not.
//
// Thin launcher. `make build` compiles the CLI to dist/ (tsc) and bundles it into one file,
// dist/bundle/deckhand.cjs (scripts/bundle.mjs), which starts faster, the more so through the V8
// code cache that dist/agent/cli/code-cache.js keeps for it. A bundle older than the compiled
// files (tsc run alone afterwards) would run stale code, so then the compiled files run instead.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const mtime = (rel) => statSync(path(rel), { throwIfNoEntry: false })?.mtimeMs ?? -1;
if (mtime('../dist/bundle/deckhand.cjs') >= mtime('../dist/agent/cli/main.js')) {
  import('../dist/agent/cli/code-cache.js').then((m) => m.runBundle(path('../dist/bundle/deckhand.cjs'), process.argv));
} else {
  import('../dist/agent/cli/main.js').then((m) => m.main(process.argv));
}
