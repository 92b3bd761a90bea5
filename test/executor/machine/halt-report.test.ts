/**
 * The halt marker reported in-band: a bash step in the bash login shell prints, as its shell
 * exits, whether the runner's halt marker exists, and the executor takes that line out of its
 * stdout and answers the next exists() with it. Real sshd; the report seen at the exec level
 * (what the VM printed) and at the executor's (what exists() answers), and every case where the
 * line cannot come: the answer is then looked up over SFTP, as before.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { type ExecRequest } from '../../../agent/executor/executor.js';
import { CommandOutput } from '../../../agent/executor/machine/command-output.js';
import { VmConnection } from '../../../agent/executor/machine/connection.js';
import { startExec } from '../../../agent/executor/machine/exec.js';
import { MachineExecutor } from '../../../agent/executor/machine/machine-executor.js';
import { startSshd, type SshdContainer } from '../../support/sshd-container.js';
import { collect, readAll } from '../docker/engine-fixture.js';

const MARKER = '/tmp/deckhand-test-halt';
const TOKEN = 'deckhand-halt-00112233aabbccdd';

const bashStep = (script: string, extra: Partial<ExecRequest> = {}): ExecRequest => ({ command: ['/bin/bash', '-eo', 'pipefail', '-c', script], env: { STEP: 'one' }, workingDirectory: '/tmp', ...extra });

describe('halt marker reported as a step ends', () => {
  let vm: SshdContainer;
  let connection: VmConnection;
  let executor: MachineExecutor;
  before(async () => {
    vm = await startSshd('halt-report');
    connection = await VmConnection.open(vm.access(), { connectTimeoutMs: 30_000, keepaliveIntervalMs: 5_000, keepaliveCountMax: 3 });
    executor = new MachineExecutor({ access: vm.access(), release: async () => undefined });
    await executor.prepare();
  });
  after(async () => {
    await connection?.close();
    await executor?.teardown();
    await vm?.remove();
  });

  /** Runs `request` with the report asked for; what the step printed, its status and what it reported. */
  async function reported(request: ExecRequest): Promise<{ stdout: string; stderr: string; exitCode: number; halt: boolean | undefined }> {
    const calls: (boolean | undefined)[] = [];
    const run = startExec(connection, request, { killGraceMs: 1000, loginUser: 'circleci', markerToken: 'deckhand-pgid-0011223344556677', haltReport: { path: MARKER, token: TOKEN }, onExited: (r) => calls.push(r) }, () => () => undefined);
    const result = await collect(run);
    assert.equal(calls.length, 1, 'onExited is called once');
    return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode, halt: calls[0] };
  }

  test('a bash step reports the marker as its shell exits; its output and status stay its own', async () => {
    await reported(bashStep(`rm -f ${MARKER}`));
    assert.deepEqual(await reported(bashStep('echo out; echo err >&2')), { stdout: 'out\n', stderr: 'err\n', exitCode: 0, halt: false });
    assert.deepEqual(await reported(bashStep(`printf 'no newline'; touch ${MARKER}`)), { stdout: 'no newline', stderr: '', exitCode: 0, halt: true });
    // errexit, an explicit exit and a signal keep their status; the trap still runs
    assert.deepEqual(await reported(bashStep('false; echo not reached')), { stdout: '', stderr: '', exitCode: 1, halt: true });
    assert.deepEqual(await reported(bashStep(`rm ${MARKER}; exit 7`)), { stdout: '', stderr: '', exitCode: 7, halt: false });
    assert.deepEqual(await reported(bashStep('kill -TERM $$')), { stdout: '', stderr: '', exitCode: 143, halt: false });
    // xtrace is the step's: the trap adds nothing to it
    const traced = await reported(bashStep('set -x; echo $STEP'));
    assert.equal(traced.stdout, 'one\n');
    assert.doesNotMatch(traced.stderr, /deckhand|fdinfo|printf/);
    assert.equal(traced.halt, false);
  });

  test('no report, and nothing stray, when the step cannot make one', async () => {
    // the step's own EXIT trap replaces the report's, and runs
    assert.deepEqual(await reported(bashStep(`trap 'echo own trap' EXIT; touch ${MARKER}`)), { stdout: 'own trap\n', stderr: '', exitCode: 0, halt: undefined });
    // stdout sent to a file or closed: the file gets no report line
    const sent = await reported(bashStep(`exec >/tmp/step-out; echo into the file; rm ${MARKER}`));
    assert.equal(sent.halt, undefined);
    assert.equal((await reported(bashStep('cat /tmp/step-out'))).stdout, 'into the file\n');
    assert.equal((await reported(bashStep('exec >&-'))).halt, undefined);
    // another shell, another user: exec'ed as before, no trap
    assert.equal((await reported({ command: ['/bin/sh', '-c', 'echo sh'] })).halt, undefined);
    assert.deepEqual(await reported(bashStep('id -un', { user: 'root' })), { stdout: 'root\n', stderr: '', exitCode: 0, halt: undefined });
    // a step that exec's another program leaves no shell to run the trap
    assert.deepEqual(await reported(bashStep('exec echo replaced')), { stdout: 'replaced\n', stderr: '', exitCode: 0, halt: undefined });
  });

  test('the SFTP channel exists() falls back on is opened with the connection, before anything asks', async () => {
    const fresh = new MachineExecutor({ access: vm.access(), release: async () => undefined });
    const before = (await vm.processes()).filter((line) => /sftp-server/.test(line)).length;
    try {
      await fresh.prepare();
      const deadline = Date.now() + 5_000;
      let servers = before;
      while (servers === before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        servers = (await vm.processes()).filter((line) => /sftp-server/.test(line)).length;
      }
      assert.equal(servers, before + 1, 'an sftp-server for the new connection, with no exists() call');
    } finally {
      await fresh.teardown();
    }
  });

  test('exists() after a step takes the report, and looks up over SFTP when there was none', async () => {
    const step = async (script: string): Promise<void> => {
      const result = await collect(executor.exec(bashStep(script)));
      assert.equal(result.exitCode, 0);
    };
    await step(`rm -f ${MARKER}`);
    assert.equal(await executor.exists(MARKER), false);
    await step(`touch ${MARKER}`);
    assert.equal(await executor.exists(MARKER), true);
    await step(`rm ${MARKER}`);
    assert.equal(await executor.exists(MARKER), false);
    // no report: the lookup finds what the step left
    await step(`trap 'true' EXIT; touch ${MARKER}`);
    assert.equal(await executor.exists(MARKER), true);
    const other = await collect(executor.exec({ command: ['/bin/sh', '-c', `rm ${MARKER}`] }));
    assert.equal(other.exitCode, 0);
    assert.equal(await executor.exists(MARKER), false);
  });
});

describe('CommandOutput: the halt line', () => {
  const line = `${TOKEN} 1\n`;

  /** `text` through a CommandOutput in chunks of `size` bytes. */
  async function through(text: string, size: number): Promise<{ out: string; halt: boolean | undefined }> {
    const source = new PassThrough();
    const output = new CommandOutput(1 << 20, undefined, TOKEN);
    output.follow(source);
    const read = readAll(output);
    const bytes = Buffer.from(text, 'latin1');
    for (let i = 0; i < bytes.length; i += size) source.write(bytes.subarray(i, i + size));
    source.end();
    return { out: (await read).toString('latin1'), halt: output.halt };
  }

  test('taken out wherever the chunks split it; bytes that only look like its start are passed on', async () => {
    for (const size of [1, 2, 5, 17, 1000]) {
      assert.deepEqual(await through(`build output\n${line}`, size), { out: 'build output\n', halt: true }, `chunks of ${size}`);
      assert.deepEqual(await through(`a${line}after\n`, size), { out: 'aafter\n', halt: true }, `chunks of ${size}`);
      assert.deepEqual(await through(`${TOKEN.slice(0, 12)}`, size), { out: TOKEN.slice(0, 12), halt: undefined }, `chunks of ${size}`);
      assert.deepEqual(await through(`${TOKEN} 2\nd`, size), { out: `${TOKEN} 2\nd`, halt: undefined }, `chunks of ${size}`);
      assert.deepEqual(await through(`${TOKEN} 0`, size), { out: `${TOKEN} 0`, halt: undefined }, `chunks of ${size}`);
    }
  });
});
