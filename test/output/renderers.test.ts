import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { JobEvent } from '../../agent/output/events.js';
import { createLogFileSink, defaultLogPath } from '../../agent/output/log-file.js';
import { MaskingSink } from '../../agent/output/masking-sink.js';
import { createNdjsonSink } from '../../agent/output/ndjson.js';
import { createTerminalSink, formatDuration, shouldUseColor } from '../../agent/output/terminal.js';

/** A PassThrough that keeps every byte written to it. */
function capture(): { stream: PassThrough; bytes: () => Buffer } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, bytes: () => Buffer.concat(chunks) };
}

const INVALID_UTF8 = Buffer.from([0x62, 0x69, 0x6e, 0xff, 0xfe, 0xc3, 0x28, 0x0a]);

/** A job: env listing, a passing step with agent lines, a background step, a failing step, a timeout. */
function job(logFile?: string): JobEvent[] {
  return [
    { type: 'job-start', job: 'build', time: 0, environment: { ZED: 'last', CI: 'true', API_TOKEN: '********' } },
    { type: 'step-start', index: 0, name: 'Say hello', stepType: 'run', time: 1, background: false },
    { type: 'output', index: 0, stream: 'agent', data: Buffer.from('#!/bin/bash -eo pipefail\necho hello\n') },
    { type: 'output', index: 0, stream: 'stdout', data: Buffer.from('hello\n') },
    { type: 'step-end', index: 0, status: 'success', exitCode: 0, durationMs: 420 },
    { type: 'step-start', index: 1, name: 'server', stepType: 'run', time: 2, background: true },
    { type: 'output', index: 1, stream: 'stdout', data: INVALID_UTF8 },
    { type: 'step-start', index: 2, name: 'Tests', stepType: 'run', time: 3, background: false },
    { type: 'output', index: 2, stream: 'stderr', data: Buffer.from('no newline at the end') },
    { type: 'step-end', index: 2, status: 'failed', exitCode: 3, durationMs: 65_000 },
    { type: 'step-start', index: 3, name: 'Slow', stepType: 'run', time: 4, background: false },
    {
      type: 'step-end',
      index: 3,
      status: 'timedout',
      durationMs: 600_000,
      message: 'Too long with no output (exceeded 10m0s): context deadline exceeded',
    },
    // the background step ends under the last step's header: its end line names it
    { type: 'step-end', index: 1, status: 'success', exitCode: 0, durationMs: 601_000 },
    { type: 'job-end', status: 'failed', durationMs: 666_000, logFile },
  ];
}

const EXPECTED_PLAIN = [
  '====>> Preparing environment variables',
  'Using build environment variables:',
  '  API_TOKEN=********',
  '  CI=true',
  '  ZED=last',
  'The redacted variables listed above will be masked in run step output.',
  '====>> Say hello',
  '#!/bin/bash -eo pipefail',
  'echo hello',
  'hello',
  'Took 420ms',
  '====>> server (background)',
  'bin\xff\xfe\xc3(',
  '====>> Tests',
  'no newline at the end',
  'Exited with code exit status 3',
  'Took 1m5s',
  '====>> Slow',
  'Too long with no output (exceeded 10m0s): context deadline exceeded',
  'Took 10m0s',
  'Background step "server" ended:',
  'Took 10m1s',
  'Task failed (total 11m6s)',
].join('\n') + '\n';

describe('terminal renderer', () => {
  it('renders CircleCI-like sections without colour, output bytes untouched', async () => {
    const { stream, bytes } = capture();
    const sink = createTerminalSink({ stream, color: false });
    for (const e of job('/tmp/x.log')) sink.event(e);
    await sink.close();
    const got = bytes();
    assert.deepEqual(got, Buffer.concat([Buffer.from(EXPECTED_PLAIN, 'latin1'), Buffer.from('Full log: /tmp/x.log\n')]));
    assert.ok(got.includes(INVALID_UTF8), 'invalid UTF-8 must pass through byte-identical');
    assert.ok(!got.includes(0x1b), 'no escape codes without colour');
    assert.equal(stream.writableEnded, false, 'stdout is not ended by the renderer');
  });

  it('colours headers bold cyan, agent lines dim and failures red on request', async () => {
    const { stream, bytes } = capture();
    const sink = createTerminalSink({ stream, color: true });
    for (const e of job()) sink.event(e);
    await sink.close();
    const text = bytes().toString('latin1');
    assert.ok(text.includes('\x1b[1;36m====>> Say hello\x1b[0m\n'));
    assert.ok(text.includes('\x1b[2m#!/bin/bash -eo pipefail\necho hello\n\x1b[22m'));
    assert.ok(text.includes('\x1b[31mExited with code exit status 3\x1b[39m'));
    assert.ok(text.includes('\x1b[1;31mTask failed (total 11m6s)\x1b[0m'));
    assert.ok(!text.includes('Full log'));
    // stripping the escapes gives the plain rendering back
    assert.equal(text.replace(/\x1b\[[0-9;]*m/g, ''), EXPECTED_PLAIN);
  });

  it('prints Success! for a passing job', async () => {
    const { stream, bytes } = capture();
    const sink = createTerminalSink({ stream, color: false });
    sink.event({ type: 'job-end', status: 'success', durationMs: 1500 });
    await sink.close();
    assert.equal(bytes().toString(), 'Success! (total 1.5s)\n');
  });

  it('uses colour only on a TTY without NO_COLOR or --no-color', () => {
    assert.equal(shouldUseColor({ isTTY: true }, { env: {} }), true);
    assert.equal(shouldUseColor({ isTTY: false }, { env: {} }), false);
    assert.equal(shouldUseColor({}, { env: {} }), false);
    assert.equal(shouldUseColor({ isTTY: true }, { env: { NO_COLOR: '1' } }), false);
    assert.equal(shouldUseColor({ isTTY: true }, { env: { NO_COLOR: '' } }), true);
    assert.equal(shouldUseColor({ isTTY: true }, { env: {}, noColor: true }), false);
    // a PassThrough is not a TTY: the default is plain
    const { stream, bytes } = capture();
    createTerminalSink({ stream }).event({ type: 'step-start', index: 0, name: 'x', stepType: 'run', time: 0, background: false });
    assert.equal(bytes().toString(), '====>> x\n');
  });

  it('formats durations like Go', () => {
    assert.equal(formatDuration(0), '0ms');
    assert.equal(formatDuration(999), '999ms');
    assert.equal(formatDuration(1000), '1.0s');
    assert.equal(formatDuration(59_999), '59.9s');
    assert.equal(formatDuration(60_000), '1m0s');
    assert.equal(formatDuration(3_723_000), '1h2m3s');
  });
});

describe('NDJSON output', () => {
  it('writes one parseable object per event, output as base64 plus text when valid UTF-8', async () => {
    const { stream, bytes } = capture();
    const sink = createNdjsonSink(stream);
    const events = job('/tmp/y.log');
    for (const e of events) sink.event(e);
    await sink.close();
    const lines = bytes().toString('utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, events.length);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    parsed.forEach((p, i) => {
      const e = events[i];
      assert.equal(p.type, e.type);
      if (e.type === 'output') {
        assert.deepEqual(Buffer.from(p.data as string, 'base64'), e.data);
        if (e.data.equals(INVALID_UTF8)) assert.equal('text' in p, false);
        else assert.equal(p.text, e.data.toString('utf8'));
      } else {
        assert.deepEqual(p, JSON.parse(JSON.stringify(e)));
      }
    });
  });
});

describe('log file', () => {
  it('writes the plain human log with every byte, masked, and fsyncs on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'deckhand-log-'));
    try {
      const path = join(dir, 'nested', 'build.log');
      const log = createLogFileSink(path);
      const sink = new MaskingSink(['supersecret'], log);
      sink.event({ type: 'step-start', index: 0, name: 'leak?', stepType: 'run', time: 0, background: false });
      sink.event({ type: 'output', index: 0, stream: 'stdout', data: Buffer.from('token=super') });
      sink.event({ type: 'output', index: 0, stream: 'stdout', data: Buffer.concat([Buffer.from('secret '), INVALID_UTF8]) });
      sink.event({ type: 'step-end', index: 0, status: 'success', exitCode: 0, durationMs: 10 });
      sink.event({ type: 'job-end', status: 'success', durationMs: 20, logFile: path });
      await sink.close();
      const got = readFileSync(path);
      assert.deepEqual(
        got,
        Buffer.concat([
          Buffer.from('====>> leak?\ntoken=******** '),
          INVALID_UTF8,
          Buffer.from('Took 10ms\nSuccess! (total 20ms)\n'),
        ]),
      );
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await log.close(); // closing twice is harmless
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts the default log under DECKHAND_HOME/logs with a safe job name', () => {
    const at = new Date(Date.UTC(2025, 0, 31, 12, 5, 1, 123));
    assert.equal(defaultLogPath('node/test 18', at, { DECKHAND_HOME: '/h' }), '/h/logs/node_test_18-20250131T120501.123Z.log');
    assert.equal(defaultLogPath('..', at, { DECKHAND_HOME: '/h' }), '/h/logs/_-20250131T120501.123Z.log');
  });

  it('says where and how to fix when the log cannot be written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deckhand-log-'));
    try {
      const file = join(dir, 'a-file');
      writeFileSync(file, '');
      // a folder that cannot exist: its parent is a file
      assert.throws(() => createLogFileSink(join(file, 'logs', 'build.log')), (err: Error) => {
        assert.match(err.message, /^cannot write the job log .*a-file\/logs\/build\.log: .*; set DECKHAND_HOME to a writable folder$/);
        assert.equal(err.message.includes('\n'), false);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
