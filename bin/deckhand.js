#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (make build).
import('../dist/agent/cli/main.js').then((m) => m.main(process.argv));
