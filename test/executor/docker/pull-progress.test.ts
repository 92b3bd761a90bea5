// The pull progress renderer on its own: engine messages in, text out.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PullTracker,
  formatBytePair,
  formatBytes,
  pullProgressReporter,
  type EngineProgressMessage,
  type PullEvent,
} from '../../../agent/executor/docker/pull-progress.js';

const IMAGE = '127.0.0.1:5000/team/app:1';

// The shape of a real pull: one layer the engine already has, one downloaded.
const MESSAGES: EngineProgressMessage[] = [
  { status: 'Pulling from team/app', id: '1' },
  { status: 'Already exists', id: 'aaaaaaaaaaaa' },
  { status: 'Pulling fs layer', id: 'bbbbbbbbbbbb' },
  { status: 'Downloading', id: 'bbbbbbbbbbbb', progressDetail: { current: 32_768, total: 40_100_000 } },
  { status: 'Downloading', id: 'bbbbbbbbbbbb', progressDetail: { current: 12_300_000, total: 40_100_000 } },
  { status: 'Verifying Checksum', id: 'bbbbbbbbbbbb' },
  { status: 'Download complete', id: 'bbbbbbbbbbbb' },
  { status: 'Extracting', id: 'bbbbbbbbbbbb', progressDetail: { current: 40_100_000, total: 40_100_000 } },
  { status: 'Pull complete', id: 'bbbbbbbbbbbb' },
  { status: 'Digest: sha256:0123' },
  { status: `Status: Downloaded newer image for ${IMAGE}` },
];

const EVENTS: PullEvent[] = [
  { kind: 'started', image: IMAGE },
  ...MESSAGES.map((message): PullEvent => ({ kind: 'progress', image: IMAGE, message })),
  { kind: 'finished', image: IMAGE, elapsedMs: 2_140 },
];

describe('pull progress', () => {
  it('plain lines: start, each layer once, and the time taken', () => {
    let out = '';
    const report = pullProgressReporter({ tty: false, write: (text) => (out += text) });
    EVENTS.forEach(report);
    assert.equal(
      out,
      [
        `Pulling image ${IMAGE}`,
        'Layer aaaaaaaaaaaa already present',
        'Downloaded layer bbbbbbbbbbbb (40.1 MB)',
        `Pulled ${IMAGE} in 2.1s`,
        '',
      ].join('\n'),
    );
  });

  it('a layer too small for progress messages is listed without a size', () => {
    const tracker = new PullTracker();
    tracker.record({ kind: 'started', image: IMAGE });
    const lines = tracker.record({ kind: 'progress', image: IMAGE, message: { status: 'Download complete', id: 'cccccccccccc' } });
    assert.deepEqual(lines, ['Downloaded layer cccccccccccc']);
  });

  it('a layer whose "Download complete" the engine coalesced away is still listed, once', () => {
    let out = '';
    const report = pullProgressReporter({ tty: false, write: (text) => (out += text) });
    EVENTS.filter((e) => !(e.kind === 'progress' && e.message.status === 'Download complete')).forEach(report);
    assert.match(out, /^Downloaded layer bbbbbbbbbbbb \(40\.1 MB\)$/m);
    assert.equal(out.match(/Downloaded layer/g)?.length, 1);
    // nothing but the end of it: downloaded, without a size
    const tracker = new PullTracker();
    tracker.record({ kind: 'started', image: IMAGE });
    assert.deepEqual(tracker.record({ kind: 'progress', image: IMAGE, message: { status: 'Pull complete', id: 'dddddddddddd' } }), ['Downloaded layer dddddddddddd']);
    assert.deepEqual(tracker.record({ kind: 'progress', image: IMAGE, message: { status: 'Download complete', id: 'dddddddddddd' } }), []);
  });

  it('the status line counts layers and bytes as they come', () => {
    const tracker = new PullTracker();
    const lines: string[] = [];
    for (const event of EVENTS.slice(0, -1)) {
      tracker.record(event);
      lines.push(tracker.statusLine());
    }
    assert.equal(lines[0], `Pulling ${IMAGE} — resolving`);
    assert.ok(lines.includes(`Pulling ${IMAGE} — 1/2 layers, 12.3/40.1 MB`), lines.join('\n'));
    assert.equal(lines.at(-1), `Pulling ${IMAGE} — 2/2 layers, 40.1/40.1 MB`);
    tracker.record(EVENTS.at(-1) as PullEvent);
    assert.equal(tracker.active, false);
  });

  it('on a TTY: redraws in place, at most once per interval, and ends on the "Pulled" line', () => {
    let out = '';
    let clock = 0;
    const report = pullProgressReporter({ tty: true, write: (text) => (out += text), now: () => clock, minRedrawMs: 100 });
    report(EVENTS[0] as PullEvent);
    for (const event of EVENTS.slice(1, -1)) {
      clock += 10; // eleven messages in 110 ms: two redraws, not eleven
      report(event);
    }
    report(EVENTS.at(-1) as PullEvent);
    const draws = out.split('\r\x1b[2K').filter(Boolean);
    assert.equal(draws[0], `Pulling ${IMAGE} — resolving`);
    assert.equal(draws.length, 3, JSON.stringify(draws));
    assert.ok(out.endsWith(`\r\x1b[2KPulled ${IMAGE} in 2.1s\n`), JSON.stringify(out));
    assert.doesNotMatch(out, /Downloaded layer/);
  });

  it('on a TTY: two pulls share the line, and a long line is cut to the width', () => {
    let out = '';
    const report = pullProgressReporter({ tty: true, write: (text) => (out = text), columns: 60 });
    report({ kind: 'started', image: 'a:1' });
    report({ kind: 'started', image: 'b:1' });
    assert.equal(out, '\r\x1b[2KPulling a:1 — resolving  |  Pulling b:1 — resolving');
    report({ kind: 'started', image: 'c-with-a-long-name:1' });
    assert.equal(out.length - '\r\x1b[2K'.length, 59);
    assert.ok(out.endsWith('…'));
    report({ kind: 'failed', image: 'c-with-a-long-name:1', reason: 'refused' });
    assert.equal(out, '\r\x1b[2KPulling a:1 — resolving  |  Pulling b:1 — resolving');
  });

  it('formats sizes in decimal units, a pair in the unit of the total', () => {
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1_500), '1.5 kB');
    assert.equal(formatBytes(12_345_678), '12.3 MB');
    assert.equal(formatBytes(2_000_000_000), '2.0 GB');
    assert.equal(formatBytePair(12_300_000, 40_100_000), '12.3/40.1 MB');
    assert.equal(formatBytePair(500_000, 40_100_000), '0.5/40.1 MB');
    assert.equal(formatBytePair(10, 900), '10/900 B');
  });
});
