/**
 * The queue of jobs waiting for a static pool's host: arrival order across agents, tickets of
 * agents that died skipped and removed, and leaving it idempotent.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { joinQueue } from '../../agent/vm/wait-queue.js';

describe('the wait queue of a static pool', () => {
  it('counts the live jobs that came earlier, and drops the tickets of agents that are gone', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'deckhand-queue-')), 'q');
    const first = await joinQueue(dir, { jobId: 'a', runId: 'ra' });
    await sleep(5);
    const second = await joinQueue(dir, { jobId: 'b', runId: 'rb' });
    assert.equal(await first.ahead(), 0);
    assert.equal(await second.ahead(), 1);
    // an agent that joined before both and died: its pid no longer runs
    const dead = spawnSync('true').pid as number;
    writeFileSync(path.join(dir, '000000000000001-dead.json'), `${JSON.stringify({ jobId: 'z', runId: 'rz', pid: dead, machine: hostname(), since: 1, token: 'dead' })}\n`);
    assert.equal(await second.ahead(), 1, 'the dead agent is not waited for');
    assert.equal(readdirSync(dir).some((n) => n.includes('dead')), false, 'its ticket is removed');
    await first.leave();
    await first.leave();
    assert.equal(await second.ahead(), 0);
    await second.leave();
    assert.deepEqual(readdirSync(dir), []);
  });
});
