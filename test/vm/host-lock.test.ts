/**
 * Static host locks on a real filesystem: one winner among many at once, a release that touches
 * only its own holding, and the rules for telling a dead owner (gone, or its pid reused) from a
 * live one or one of another machine.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { breakLock, ownerIsGone, readOwner, tryLock, unlock, type LockOwner } from '../../agent/vm/host-lock.js';

describe('host locks', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'deckhand-host-lock-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the lock to exactly one of many taking it at once, and leaves no temporary folders', async () => {
    const lock = path.join(dir, 'contended');
    const attempts = await Promise.all(Array.from({ length: 20 }, (_, i) => tryLock(lock, { jobId: `job-${i}`, runId: 'r' })));
    const winners = attempts.filter((attempt) => 'lock' in attempt);
    assert.equal(winners.length, 1);
    const owner = await readOwner(lock);
    assert.ok(winners[0] && 'lock' in winners[0]);
    assert.equal(owner?.token, winners[0].lock.owner.token);
    for (const attempt of attempts) if ('heldBy' in attempt) assert.equal(attempt.heldBy?.token, owner?.token);
    assert.deepEqual(await readdir(dir), ['contended']);
  });

  it('a release removes only its own holding', async () => {
    const lockDir = path.join(dir, 'own');
    const first = await tryLock(lockDir, { jobId: 'a', runId: 'r' });
    assert.ok('lock' in first);
    await breakLock(lockDir); // reaped while held
    const second = await tryLock(lockDir, { jobId: 'b', runId: 'r' });
    assert.ok('lock' in second);
    await unlock(first.lock); // the first job finishes late: the second keeps the host
    assert.equal((await readOwner(lockDir))?.jobId, 'b');
    await unlock(second.lock);
    assert.equal(await readOwner(lockDir), undefined);
  });

  it('judges an owner gone when its process is, or its pid now belongs to another process', async () => {
    const held = await tryLock(path.join(dir, 'alive'), { jobId: 'me', runId: 'r' });
    assert.ok('lock' in held);
    assert.equal(ownerIsGone(held.lock.owner), false, 'this process is alive');
    const base: LockOwner = { ...held.lock.owner };
    assert.equal(ownerIsGone({ ...base, processStart: '1' }), true, 'same pid, another start time: reused');
    assert.equal(ownerIsGone({ ...base, pid: 2 ** 22 + 1 }), true, 'no such process');
    assert.equal(ownerIsGone({ ...base, pid: 2 ** 22 + 1, machine: `${hostname()}-elsewhere` }), false, 'another machine: cannot tell');
  });

  it('takes over a lock whose owner is gone, and reports whose it was', async () => {
    const lockDir = path.join(dir, 'stale');
    const held = await tryLock(lockDir, { jobId: 'old', runId: 'r' });
    assert.ok('lock' in held);
    // the same holding, as an agent that has exited would have left it
    const dead: LockOwner = { ...held.lock.owner, pid: 2 ** 22 + 1 };
    await writeFile(path.join(lockDir, 'owner.json'), JSON.stringify(dead));
    const taken = await tryLock(lockDir, { jobId: 'new', runId: 'r' });
    assert.ok('lock' in taken);
    assert.equal(taken.tookOverFrom?.jobId, 'old');
    assert.equal((await readOwner(lockDir))?.jobId, 'new');
  });
});
