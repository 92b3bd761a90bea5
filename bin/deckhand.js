#!/usr/bin/env node
// Thin launcher. `make build` compiles the CLI to dist/ (tsc) and bundles it into dist/bundle/
// (scripts/bundle.mjs), which starts faster. A bundle older than the compiled files (tsc run
// alone afterwards) would run stale code, so then the compiled files run instead.
import { statSync } from 'node:fs';

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const fresh = mtime('../dist/bundle/main.js') >= mtime('../dist/agent/cli/main.js');
import(fresh ? '../dist/bundle/main.js' : '../dist/agent/cli/main.js').then((m) => m.main(process.argv));
