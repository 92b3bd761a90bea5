// --kill-timeout: Nomad-style durations, clear errors for anything else, and how the time is
// split between the steps' grace, delivering output and cleaning up, and a safety margin.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_KILL_TIMEOUT_MS, parseKillTimeout, splitKillTimeout } from '../../agent/nomad/kill-timeout.js';
import { UsageError } from '../../agent/errors.js';

describe('parseKillTimeout', () => {
  it('reads Nomad-style durations and plain seconds', () => {
    const cases: [string, number][] = [
      ['30s', 30_000],
      ['1m30s', 90_000],
      ['500ms', 500],
      ['2m', 120_000],
      ['45', 45_000],
      ['1h', 3_600_000],
      ['1.5s', 1500],
      ['0.25', 250],
      ['1m0s', 60_000],
      ['1s500ms', 1500],
      [' 20s ', 20_000],
    ];
    for (const [text, ms] of cases) assert.equal(parseKillTimeout(text), ms, text);
  });

  it('defaults to 30 s', () => {
    assert.equal(DEFAULT_KILL_TIMEOUT_MS, 30_000);
    assert.equal(parseKillTimeout(undefined), 30_000);
    assert.equal(parseKillTimeout(''), 30_000);
  });

  it('refuses anything else with one clear line naming the flag', () => {
    for (const text of ['30 s', '30sec', 'ten', '-5s', '1d', '5S', 's', '1m-30s', '1e3', '0x10', '30s ms']) {
      assert.throws(() => parseKillTimeout(text), (err: unknown) => {
        assert.ok(err instanceof UsageError, text);
        assert.match(err.message, new RegExp(`^--kill-timeout ${JSON.stringify(text).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a duration: .*30s, 1m30s, 500ms`));
        return true;
      });
    }
  });

  it('refuses no time at all, and more than a day', () => {
    assert.throws(() => parseKillTimeout('0'), /is no time at all/);
    assert.throws(() => parseKillTimeout('0s'), /is no time at all/);
    assert.throws(() => parseKillTimeout('25h'), /over 24 hours/);
  });

  it('names the setting it was given as', () => {
    assert.throws(() => parseKillTimeout('soon', 'DECKHAND_KILL_TIMEOUT'), /^UsageError: DECKHAND_KILL_TIMEOUT "soon" is not a duration/);
  });
});

describe('splitKillTimeout', () => {
  it('30 s: 10 s for steps, 17 s to deliver and clean up, 3 s margin', () => {
    assert.deepEqual(splitKillTimeout(30_000), { totalMs: 30_000, stepGraceMs: 10_000, finishMs: 17_000, marginMs: 3_000 });
  });

  it("Nomad's default 5 s: a third for steps, 1 s margin", () => {
    assert.deepEqual(splitKillTimeout(5_000), { totalMs: 5_000, stepGraceMs: 1_666, finishMs: 2_334, marginMs: 1_000 });
  });

  it('long timeouts: the steps stay at 10 s, the margin is 10%', () => {
    assert.deepEqual(splitKillTimeout(120_000), { totalMs: 120_000, stepGraceMs: 10_000, finishMs: 98_000, marginMs: 12_000 });
  });

  it('short timeouts: the margin never takes more than a third', () => {
    assert.deepEqual(splitKillTimeout(1_000), { totalMs: 1_000, stepGraceMs: 333, finishMs: 334, marginMs: 333 });
  });

  it('the phases always add up to the timeout and none is negative', () => {
    for (const total of [1, 2, 3, 10, 999, 1_000, 2_500, 3_000, 9_999, 10_000, 29_999, 30_000, 31_000, 60_000, 600_000, 86_400_000]) {
      const b = splitKillTimeout(total);
      assert.equal(b.stepGraceMs + b.finishMs + b.marginMs, total, String(total));
      for (const part of [b.stepGraceMs, b.finishMs, b.marginMs]) assert.ok(part >= 0, `${total}: ${JSON.stringify(b)}`);
      assert.ok(b.stepGraceMs <= 10_000);
      assert.ok(b.finishMs >= b.stepGraceMs || total < 3, `${total}: finishing gets at least the steps' share`);
    }
  });

  it('refuses a non-positive timeout', () => {
    assert.throws(() => splitKillTimeout(0), RangeError);
    assert.throws(() => splitKillTimeout(Number.NaN), RangeError);
  });
});
