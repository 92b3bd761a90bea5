#!/usr/bin/env node
// Thin launcher: `make build` compiles the CLI to dist/ and bundles it into dist/bundle/ (scripts/bundle.mjs).
import('../dist/bundle/main.js').then((m) => m.main(process.argv));
