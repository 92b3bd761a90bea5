/**
 * `deckhand execute --output-processor` end to end: the real CLI runs a real job in Docker (the
 * local busybox test image) and streams it to the real output processor, started as a child
 * process. What the processor stored is read back over its HTTP API and compared, by SHA-256,
 * with the bytes the step wrote.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUSYBOX, deckhandBin, execute, job, project } from '../../support/execute.js';
import { freePort } from '../../support/free-port.js';
import { ProcessorProcess, seqBytes, sha256 } from '../../support/processor-process.js';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Runs execute asynchronously, keeping stdout's last 64 KiB; `sawEnd` is when the job's end line appeared. */
function executeAsync(dir: string, args: string[]): Promise<{ code: number | null; out: string; err: string; ended: number; sawEnd: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [deckhandBin, 'execute', '--no-color', '--log-file', join(dir, 'job.log'), ...args], {
      cwd: dir,
      env: { ...process.env, DECKHAND_HOME: join(dir, '.home') },
    });
    let out = '';
    let err = '';
    let sawEnd = 0;
    child.stdout.on('data', (d: Buffer) => {
      out = (out + d.toString('latin1')).slice(-65536);
      if (!sawEnd && /\n(Success!|Task failed)/.test(out)) sawEnd = Date.now();
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err, ended: Date.now(), sawEnd }));
  });
}

describe('deckhand execute --output-processor', { timeout: 300_000 }, () => {
  let processor: ProcessorProcess;
  before(async () => {
    processor = await ProcessorProcess.start();
  });
  after(async () => {
    await processor?.stop();
  });

  test('a real job\'s 50 MB with invalid UTF-8 is stored byte-identical, and the job\'s page is printed', async () => {
    const lines = 6_700_000; // `seq` prints 52.5 MB
    const head = Buffer.from([0xff, 0xfe, 0x20, 0x80, 0x0a, 0x61, 0x00, 0x62, 0x0d, 0x0a]); // not UTF-8, NUL, CR
    const tail = Buffer.from([0xc3, 0x28, 0x0a]);
    const expected = Buffer.concat([head, seqBytes(lines), tail]);
    assert.ok(expected.length > 50 * 1024 * 1024);
    const dir = project(job(BUSYBOX, `      - run: printf '\\377\\376 \\200\\na\\000b\\r\\n'; seq 1 ${lines}; printf '\\303\\050\\n'\n      - run: echo second step >&2`));
    const jobId = `e2e-${Date.now()}`;
    const r = await executeAsync(dir, ['--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId), '--output-url', processor.http]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`Output: ${processor.http}/jobs/${jobId} \\(delivered and verified\\)`));
    const stored = await processor.output(jobId, 0);
    assert.equal(stored.length, expected.length, 'same byte count: nothing lost, nothing duplicated');
    assert.equal(sha256(stored), sha256(expected));
    // the terminal still got the output (the log file has the same bytes between its header lines)
    assert.ok(readFileSync(join(dir, 'job.log')).includes(head));
    const second = await processor.output(jobId, 1, 'stderr');
    assert.match(second.toString(), /second step/);
    const page = await fetch(`${processor.http}/jobs/${jobId}`);
    assert.equal(page.status, 200, 'the printed URL is the job\'s page');
  });

  test('a secret passed with -e never reaches the processor: not in output, not in the environment listing, nowhere in its data', async () => {
    const secret = 'hunter2-s3cr3t-value';
    const dir = project(job(BUSYBOX, '      - run: echo "the secret is $API_TOKEN"; printf "%s" "$API_TOKEN" | tr a-z A-Z; echo'));
    const jobId = `mask-${Date.now()}`;
    const r = execute(dir, ['-e', `API_TOKEN=${secret}`, '--output-processor', processor.target, '--job-id', jobId, '--output-token', processor.token(jobId)]);
    assert.equal(r.code, 0, r.err);
    const stored = (await processor.output(jobId, 0)).toString();
    assert.match(stored, /the secret is \*{8}/);
    assert.ok(!stored.includes(secret));
    for (const file of filesUnder(processor.data)) assert.ok(!readFileSync(file).includes(secret), `${file} holds the secret`);
    assert.match(r.out, /delivered and verified/);
  });

  test('the processor absent for the whole job: the steps succeed, the report says what was not delivered, the deadline holds, exit 2', async () => {
    const dir = project(job(BUSYBOX, '      - run: echo hello; seq 1 1000'));
    const port = await freePort(); // nothing listens there
    const r = await executeAsync(dir, ['--output-processor', `127.0.0.1:${port}`, '--output-deadline', '3']);
    // the job passed, but its output was lost: an operator must see that from the exit code alone
    assert.equal(r.code, 2, r.err);
    assert.match(r.out, /Success!/);
    assert.match(r.out, new RegExp(`Output: job [0-9a-f-]{36} at output processor 127\\.0\\.0\\.1:${port} \\(NOT fully delivered\\)`));
    assert.match(r.err, /output processor 127\.0\.0\.1:\d+ unreachable/);
    assert.match(r.err, /output NOT fully delivered: job [0-9a-f-]{36} at 127\.0\.0\.1:\d+: [\d.]+ KiB of [\d.]+ KiB and \d+ of \d+ events not delivered after waiting 3\.\ds \(deadline 3s\); last error: /);
    const lingered = r.ended - r.sawEnd;
    assert.ok(lingered >= 2500 && lingered < 6000, `exit ${lingered} ms after the job ended (deadline 3 s)`);
  });

  test('without --job-id the job is a fresh UUID (its CIRCLE_WORKFLOW_JOB_ID), printed as BASE/jobs/ID with --output-url and as the id without', async () => {
    const dir = project(job(BUSYBOX, '      - run: echo "run id $CIRCLE_WORKFLOW_JOB_ID"'));
    const port = await freePort(); // nothing listens there: only the printed identity matters here
    const uuid = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
    const base = 'http://127.0.0.1:8080/deckhand';
    const withUrl = await executeAsync(dir, ['--output-processor', `127.0.0.1:${port}`, '--output-deadline', '0', '--output-url', `${base}/`]);
    const plain = await executeAsync(dir, ['--output-processor', `127.0.0.1:${port}`, '--output-deadline', '0']);
    const ids: string[] = [];
    for (const [r, line] of [
      [withUrl, new RegExp(`\\nOutput: ${base.replace(/\./g, '\\.')}/jobs/(${uuid}) \\(NOT fully delivered\\)\\n`)],
      [plain, new RegExp(`\\nOutput: job (${uuid}) at output processor 127\\.0\\.0\\.1:${port} \\(NOT fully delivered\\)\\n`)],
    ] as const) {
      assert.equal(r.code, 2, r.err);
      const id = line.exec(r.out)?.[1];
      assert.ok(id, `no ${line} in:\n${r.out.slice(-600)}`);
      assert.match(r.out, new RegExp(`run id ${id}\\n`), 'the id is the job\'s CIRCLE_WORKFLOW_JOB_ID');
      assert.match(r.err, new RegExp(`output NOT fully delivered: job ${id} at 127\\.0\\.0\\.1:${port}`));
      ids.push(id);
    }
    assert.notEqual(ids[0], ids[1], 'each run gets a fresh id');
  });

  test('--output-secret-file mints the token here: the default fresh-UUID job is accepted, delivered and verified', async () => {
    const dir = project(job(BUSYBOX, '      - run: echo "minted for $CIRCLE_WORKFLOW_JOB_ID"'));
    const r = await executeAsync(dir, ['--output-processor', processor.target, '--output-secret-file', processor.secretFile, '--output-url', processor.http]);
    assert.equal(r.code, 0, r.err);
    const id = new RegExp(`Output: ${processor.http}/jobs/([0-9a-f-]{36}) \\(delivered and verified\\)`).exec(r.out)?.[1];
    assert.ok(id, r.out.slice(-600));
    assert.equal((await processor.output(id, 0)).toString(), `minted for ${id}\n`);
  });

  test('a wrong or missing token is refused at once: no step runs, the reason is said, exit 2', async () => {
    const dir = project(job(BUSYBOX, "      - run: printf 'ran%s\\n' -the-step"));
    const jobId = `badtoken-${Date.now()}`;
    for (const tokenFlags of [['--output-token', 'f'.repeat(64)], []]) {
      const r = await executeAsync(dir, ['--output-processor', processor.target, '--job-id', jobId, ...tokenFlags, '--output-deadline', '30']);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /refused job badtoken-\d+: UNAUTHENTICATED/);
      assert.match(r.out, /output processor 127\.0\.0\.1:\d+ refused job badtoken-\d+: UNAUTHENTICATED/, 'spin-up fails with the reason');
      assert.doesNotMatch(r.out, /ran-the-step/, 'no step ran');
      assert.ok(r.ended - r.sawEnd < 5000, 'no waiting out the deadline when the processor refuses the job');
    }
  });

  test('bad flag values: one line naming the flag, exit 2, no job run', () => {
    const dir = project(job(BUSYBOX, '      - run: echo should not run'));
    const cases: [string[], RegExp][] = [
      [['--output-processor', 'localhost'], /--output-processor must be HOST:PORT/],
      [['--output-processor', '127.0.0.1:70000'], /--output-processor must be HOST:PORT/],
      [['--output-processor', '127.0.0.1:1', '--output-deadline', 'soon'], /--output-deadline must be a number of seconds/],
      [['--output-processor', '127.0.0.1:1', '--job-id', 'a/b'], /--job-id "a\/b" is not a valid job id/],
      [['--output-processor', '127.0.0.1:1', '--tls-ca', join(dir, 'missing.pem')], /--tls-ca .*missing\.pem cannot be read: ENOENT/],
      [['--output-processor', '127.0.0.1:1', '--tls-ca', join(dir, '.circleci', 'config.yml')], /is not a PEM certificate/],
      [['--output-processor', '127.0.0.1:1', '--output-url', 'localhost:8080'], /--output-url must be the processor's HTTP address/],
      [['--job-id', 'x'], /--job-id only applies with --output-processor/],
      [['--output-processor', '127.0.0.1:1', '--output-token', 'abc'], /--output-token belongs to one job id: also pass --job-id/],
      [['--output-processor', '127.0.0.1:1', '--job-id', 'x', '--output-token', 'abc', '--output-secret-file', join(dir, 'secret')], /--output-token and --output-secret-file both give the job's token: pass one of them/],
      [['--output-processor', '127.0.0.1:1', '--output-secret-file', join(dir, 'secret')], /no secret file at .*secret: start the output processor/],
    ];
    for (const [args, message] of cases) {
      const r = execute(dir, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.equal(r.err.trim().split('\n').length, 1, r.err);
      assert.ok(!r.out.includes('should not run'));
    }
  });
});
