/**
 * Commands on channels opened ahead of them (agent/executor/machine/session-ahead.ts), against a
 * real sshd: one command after another each finds its channel open already, with its output and
 * exit status intact; a burst at the server's session limit still runs (the spare channel is
 * given back for a terminal session that needs its place); and if ssh2's internals ever change,
 * this test says so instead of the speed quietly going.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sessionEnd, VmConnection } from '../../../agent/executor/machine/connection.js';
import { startSshd, type SshdContainer } from '../../support/sshd-container.js';

const SETTINGS = { connectTimeoutMs: 20_000, keepaliveIntervalMs: 5_000, keepaliveCountMax: 3 };

async function run(connection: VmConnection, line: string, pty = false): Promise<{ out: string; code: number | undefined }> {
  const channel = await connection.exec(line, `run ${line}`, pty ? { term: 'xterm', rows: 24, cols: 80, width: 0, height: 0 } : undefined);
  let out = '';
  channel.on('data', (chunk: Buffer) => (out += chunk.toString()));
  channel.stderr.resume();
  channel.end();
  const end = await sessionEnd(connection, channel);
  return { out, code: end.code };
}

describe('VmConnection: session channels opened ahead', () => {
  let vm: SshdContainer;
  let connection: VmConnection;
  before(async () => {
    vm = await startSshd('ahead');
    connection = await VmConnection.open(vm.access(), SETTINGS);
  });
  after(async () => {
    await connection?.close();
    await vm?.remove();
  });

  test('each command after the first runs on a channel opened while the one before ran', async () => {
    for (let i = 0; i < 20; i++) assert.deepEqual(await run(connection, `echo ${i}; exit ${i % 3}`), { out: `${i}\n`, code: i % 3 });
    assert.ok(connection.commandsOnChannelsOpenedAhead >= 19, `${connection.commandsOnChannelsOpenedAhead} of 20 on channels opened ahead`);
  });

  test('ten sessions at once, the server\'s limit, with a terminal one among them', async () => {
    // a connection of its own, settled: one command ran, its spare is open, nothing else is
    const burst = await VmConnection.open(vm.access(), SETTINGS);
    after(() => burst.close());
    await run(burst, 'true');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const connection = burst;
    // the test sshd keeps OpenSSH's MaxSessions of 10: the spare must not take a command's place
    const together = await Promise.all([
      ...Array.from({ length: 9 }, (_, i) => run(connection, `sleep 0.3; echo ${i}`)),
      run(connection, 'sleep 0.3; echo tty', true),
    ]);
    assert.deepEqual(
      together.map((r) => r.out.trim()),
      [...Array.from({ length: 9 }, (_, i) => String(i)), 'tty'],
    );
  });
});
