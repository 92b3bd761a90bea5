// The packed tools: what the tar holds, and that both names work once the
// runner has copied them into a job container.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { JOB_TOOLS_DIR, jobToolScript, jobToolsTar } from '../../agent/job-tools/install.js';
import { readAll } from '../executor/docker/engine-fixture.js';
import { TOOL_IMAGES, lines, toolsContainer } from './tools-container.js';

interface PackedEntry {
  name: string;
  type: string;
  mode: number;
  linkname: string | null;
  body: Buffer;
}

async function entriesOf(stream: Readable): Promise<PackedEntry[]> {
  const extract = tar.extract();
  const done: PackedEntry[] = [];
  stream.pipe(extract);
  for await (const entry of extract) {
    const body = await readAll(entry as unknown as Readable);
    const { name, type, mode, linkname } = entry.header;
    done.push({ name, type: type ?? 'file', mode: (mode ?? 0) & 0o7777, linkname: linkname ?? null, body });
  }
  return done;
}

describe('jobToolsTar', () => {
  it('holds circleci-agent (0755) and circleci as a symlink to it, under opt/circleci/bin from /', async () => {
    const entries = await entriesOf(jobToolsTar());
    assert.deepEqual(
      entries.map(({ name, type, mode, linkname }) => ({ name, type, mode, linkname })),
      [
        { name: 'opt/circleci/', type: 'directory', mode: 0o755, linkname: null },
        { name: 'opt/circleci/bin/', type: 'directory', mode: 0o755, linkname: null },
        { name: 'opt/circleci/bin/circleci-agent', type: 'file', mode: 0o755, linkname: null },
        { name: 'opt/circleci/bin/circleci', type: 'symlink', mode: 0o777, linkname: 'circleci-agent' },
      ],
    );
    assert.deepEqual(entries[2].body, jobToolScript());
    assert.match(entries[2].body.toString('utf8'), /^#!\/bin\/sh\n/);
  });

  it('can be packed again for the next job', async () => {
    const first = await entriesOf(jobToolsTar());
    const second = await entriesOf(jobToolsTar());
    assert.deepEqual(second, first);
  });
});

for (const image of TOOL_IMAGES) {
  describe(`job tools installed in ${image}`, () => {
    const box = toolsContainer(image, 'tools-install');

    it(`lands in ${JOB_TOOLS_DIR} with both names on PATH`, async () => {
      const result = await box.sh('command -v circleci-agent; command -v circleci; readlink /opt/circleci/bin/circleci');
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(lines(result.stdout), [`${JOB_TOOLS_DIR}/circleci-agent`, `${JOB_TOOLS_DIR}/circleci`, 'circleci-agent']);
    });

    it('answers --help under both names, naming itself', async () => {
      for (const name of ['circleci-agent', 'circleci']) {
        const result = await box.sh(`${name} --help`);
        assert.equal(result.exitCode, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`^Usage: ${name} <command>`));
        assert.match(result.stdout, /step halt/);
        assert.match(result.stdout, /tests glob/);
      }
    });

    it('runs for a job that is not root (scratch files go to /tmp)', async () => {
      const result = await box.sh('mkdir -p /tmp/halt-nobody && echo b a | circleci tests split --split-by=filesize --total=1 && circleci step halt && ls /tmp/halt-nobody', { CIRCLE_INTERNAL_TASK_DATA: '/tmp/halt-nobody' }, '/tmp', 'nobody');
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(lines(result.stdout), ['a', 'b', 'halt']);
    });

    it('rejects an unknown command with one line and exit 2', async () => {
      const result = await box.sh('circleci tests splitt');
      assert.equal(result.exitCode, 2);
      assert.equal(result.stdout, '');
      assert.equal(lines(result.stderr).length, 1);
      assert.match(result.stderr, /unknown command "tests splitt"/);
      const bare = await box.sh('circleci-agent frobnicate');
      assert.equal(bare.exitCode, 2);
      assert.match(bare.stderr, /^circleci-agent: unknown command "frobnicate"; use step halt, tests glob, tests split or tests run/);
    });
  });
}
