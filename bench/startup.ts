/**
 * Start-up: `deckhand --version` and `deckhand config validate` on a small file, against the
 * floor of starting Node itself (`node -e 0`), median wall time of real processes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, repo } from './support.js';

const bin = join(repo, 'bin', 'deckhand.js');
const dir = mkdtempSync(join(tmpdir(), 'deckhand-startup-'));
const config = join(dir, 'config.yml');
writeFileSync(config, 'version: 2.1\njobs:\n  build:\n    docker: [{image: busybox}]\n    steps: [checkout, {run: make test}]\nworkflows:\n  main:\n    jobs: [build]\n');
const run = (args: string[]) => () => execFileSync(process.execPath, args, { stdio: 'pipe', env: { ...process.env, DECKHAND_HOME: dir } });

const runs = 20;
const floor = await median(runs, run(['-e', '0']));
const version = await median(runs, run([bin, '--version']));
const validate = await median(runs, run([bin, 'config', 'validate', '-c', config]));

console.log(JSON.stringify({
  bench: 'startup',
  floorNodeMs: +floor.toFixed(1),
  versionMs: +version.toFixed(1),
  versionOverFloorMs: +(version - floor).toFixed(1),
  validateMs: +validate.toFixed(1),
  validateOverFloorMs: +(validate - floor).toFixed(1),
}));
