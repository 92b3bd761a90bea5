/**
 * store_artifacts end to end: files of a real container stored one blob each under the job run
 * (read back through the store), listed in the step's output with their count and size.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FsBlobStore } from '../../agent/store/fs-store.js';
import { BUSYBOX, execute, project } from '../support/execute.js';
import { readAll } from '../store/blob-store-contract.js';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const CONFIG = `version: 2.1
jobs:
  build:
    docker:
      - image: ${BUSYBOX}
    steps:
      - run: |
          mkdir -p reports/html/empty /tmp/single
          echo '<h1>report</h1>' > reports/html/index.html
          head -c 300000 /dev/urandom > reports/big.bin
          echo log > /tmp/single/out.log
          ln -s index.html reports/html/link.html
      - store_artifacts:
          path: reports
          destination: test-reports
      - store_artifacts:
          path: /tmp/single/out.log
      - store_artifacts:
          path: /does/not/exist
      - run: exit 1
      - store_artifacts:
          path: reports/html/index.html
          destination: after-failure/index.html
          when: always
`;

test('store_artifacts keeps each file under the job run, lists them, and runs after a failure', async () => {
  const dir = project(CONFIG);
  made.push(dir);
  const r = execute(dir, ['--job', 'build', '--job-run-id', 'run-42']);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /Uploading \/root\/project\/reports to test-reports\n/);
  assert.match(r.out, / {2}Uploading \/root\/project\/reports\/big\.bin \(293\.0 KiB\): OK\n/);
  assert.match(r.out, / {2}Uploading \/root\/project\/reports\/html\/index\.html \(16 B\): OK\n/);
  assert.match(r.out, /Uploaded 2 artifacts, 293\.0 KiB, to .* in [\d.]+s/);
  assert.match(r.out, /Uploading \/tmp\/single\/out\.log to tmp\/single\/out\.log\n {2}Uploading \/tmp\/single\/out\.log \(4 B\): OK\nUploaded 1 artifact, 4 B/);
  assert.match(r.out, /No artifact files found at \/does\/not\/exist/);
  const store = new FsBlobStore(join(dir, '.home', 'store'));
  const keys = (await store.list('artifacts/run-42/')).map((b) => b.key).sort();
  assert.deepEqual(keys, ['artifacts/run-42/after-failure/index.html', 'artifacts/run-42/test-reports/big.bin', 'artifacts/run-42/test-reports/html/index.html', 'artifacts/run-42/tmp/single/out.log']);
  assert.equal((await readAll(await store.get('artifacts/run-42/test-reports/html/index.html'))).toString(), '<h1>report</h1>\n');
  assert.equal((await store.stat('artifacts/run-42/test-reports/big.bin'))?.size, 300000);
});
