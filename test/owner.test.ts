// ownerState against real processes: an owner is alive while its process runs, gone once it has
// ended (exited and reaped, or a zombie), gone when its pid now belongs to a process that started
// at another time or when it ran in an earlier boot, and unknown when it ran on another machine.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import { formatOwner, ownerState, parseOwner, processStartOf, thisAgent } from '../agent/owner.js';

describe('ownerState', () => {
  it('alive while its process runs, gone once it has exited', async () => {
    const child = spawn('sleep', ['30']);
    const pid = child.pid ?? 0;
    const owner = { ...thisAgent(), pid, start: processStartOf(pid) ?? '' };
    assert.equal(ownerState(owner), 'alive');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.equal(ownerState(owner), 'gone');
  });

  it('gone while a zombie: killed, not yet reaped by its parent', async () => {
    // the shell forks a child that dies at once and then sleeps without waiting for it
    const parent = spawn('/bin/sh', ['-c', 'sh -c "exit 0" & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(ownerState({ ...thisAgent(), pid, start: '' }), 'gone');
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('gone when its pid belongs to a process started at another time, or it ran in an earlier boot', () => {
    const me = thisAgent();
    assert.equal(ownerState({ ...me, start: `${Number(me.start) + 1}` }), 'gone');
    assert.equal(ownerState({ ...me, boot: '00000000-0000-0000-0000-000000000000' }), 'gone');
  });

  it('unknown for another machine, whatever its pid', () => {
    assert.equal(ownerState({ ...thisAgent(), machine: `not-${hostname()}`, pid: 4_000_001 }), 'unknown');
  });

  it('round-trips through the label form, and refuses what is not one', () => {
    const me = thisAgent();
    assert.deepEqual(parseOwner(formatOwner(me)), me);
    assert.equal(parseOwner('no owner here'), undefined);
  });
});
