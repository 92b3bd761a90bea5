/**
 * AttemptFailure: a connection attempt's waits give up on its failure, and — the reason it exists
 * — a wait that has settled leaves nothing reachable behind, unlike `Promise.race([wait,
 * failed])`, which kept every spool read of an attempt alive (336 MB peak for a 200 MB step).
 * Reachability is checked with WeakRefs and a forced full GC.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AttemptFailure } from '../../../agent/output/stream/attempt-failure.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Settles `rounds` waits, each resolving to a fresh 1 MiB buffer, and counts how many buffers are still reachable. */
async function reachableAfter(rounds: number, race: (wait: Promise<Buffer>) => Promise<Buffer>): Promise<number> {
  const refs: WeakRef<Buffer>[] = [];
  for (let i = 0; i < rounds; i++) {
    const value = await race(Promise.resolve(Buffer.alloc(1024 * 1024, i)));
    refs.push(new WeakRef(value));
  }
  // let finalization and pending reactions run, then collect twice (weak refs clear on the next task)
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  }
  return refs.filter((r) => r.deref() !== undefined).length;
}

describe('AttemptFailure', () => {
  test('settled waits keep nothing reachable while the attempt lives; Promise.race with the attempt\'s failure keeps them all', async () => {
    const failure = new AttemptFailure();
    const kept = await reachableAfter(40, (wait) => failure.race(wait));
    assert.ok(kept <= 1, `${kept} of 40 results still reachable through AttemptFailure`);
    assert.equal(failure.failed, false);

    // the control: the pattern it replaces does retain every result while `failed` is pending
    const failed = new Promise<never>(() => undefined);
    const retained = await reachableAfter(40, (wait) => Promise.race([wait, failed]));
    assert.ok(retained >= 39, `Promise.race kept only ${retained} of 40: the control no longer shows the leak, so the first check proves nothing`);
  });

  test('a pending wait rejects with the failure; later waits reject at once; the first error wins', async () => {
    const failure = new AttemptFailure();
    const never = new Promise<string>(() => undefined);
    const pending = failure.race(never);
    failure.fail(new Error('UNAVAILABLE: connection reset'));
    failure.fail(new Error('a later error'));
    await assert.rejects(pending, /connection reset/);
    await assert.rejects(failure.race(Promise.resolve('late')), /connection reset/);
    assert.equal(failure.failed, true);
  });

  test('a wait that settles first wins, including its rejection', async () => {
    const failure = new AttemptFailure();
    assert.equal(await failure.race(Promise.resolve(7)), 7);
    await assert.rejects(failure.race(Promise.reject(new Error('read failed'))), /read failed/);
    failure.fail(new Error('after'));
    assert.equal(failure.failed, true);
  });
});
