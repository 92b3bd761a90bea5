// The `store_test_results` step: copies the JUnit XML under `path` out of the primary container,
// stores the raw files and a parsed summary for this job run, prints the counts and each failed
// test, and records per-test timings for `circleci tests split --split-by=timings` on later runs.
// As on CircleCI, nothing here fails the job: a missing path, no XML or a malformed file is a
// warning line. docs/test-results.md describes it.

import { Readable } from 'node:stream';
import { ExecutorUnavailableError } from '../executor/executor.js';
import type { StoreTestResultsStep } from '../jobspec/jobspec.js';
import { collectResultFiles, MAX_PARSED_BYTES, type ResultFile, type ResultFileBody } from '../test-results/collect.js';
import { newUploadPrefix, rawFileKey, saveSummary } from '../test-results/stored-results.js';
import { saveTimings } from '../test-results/stored-timings.js';
import { formatSummary, summarize, type ReadResultFile } from '../test-results/summary.js';
import { timingsOf } from '../test-results/timings.js';
import { resolvePath } from './shell.js';
import type { StepContext, StepHandler, StepResult } from './step.js';

export const storeTestResultsStep: StepHandler<StoreTestResultsStep> = async (step, ctx) => {
  // CircleCI takes `path` literally (no $VARIABLES), absolute or relative to the working directory
  const path = resolvePath(step.path, ctx.home, ctx.workingDirectory);
  const warn = (text: string): void => ctx.output.write('agent', `warning: ${text}\n`);
  try {
    if (!(await ctx.executor.exists(path))) {
      warn(`no test results stored: ${path} does not exist in the primary container; check store_test_results' path and that the tests wrote their reports there`);
      return done(ctx);
    }
    const { store, jobRunId } = ctx.storage;
    const upload = newUploadPrefix(jobRunId);
    const files: ReadResultFile[] = [];
    await collectResultFiles(
      ctx.executor,
      path,
      async (file, body) => {
        files.push(await readAndStore(ctx, upload, file, body));
      },
      ctx.signal,
    );
    if (files.length === 0) {
      warn(`no test results stored: no JUnit XML files (*.xml) under ${path}`);
      return done(ctx);
    }
    const summary = summarize(path, files);
    for (const f of summary.files) if (f.warning) warn(`${f.path}: ${f.warning}`);
    ctx.output.write('agent', formatSummary(summary));
    await saveSummary(store, upload, summary).catch((err: unknown) => warn(`cannot store the test results summary in ${store.location}: ${message(err)}`));
    await recordTimings(ctx, files, warn);
    return done(ctx);
  } catch (err) {
    if (err instanceof ExecutorUnavailableError) throw err;
    if (ctx.signal.aborted) return { status: 'canceled', message: 'cancelled' };
    warn(`test results not stored: ${message(err)}`);
    return { status: 'success' };
  }
};

/** Stores the raw file and parses it; a file that cannot be parsed comes back with a warning. */
async function readAndStore(ctx: StepContext, upload: string, file: ResultFile, body: ResultFileBody): Promise<ReadResultFile> {
  const { store } = ctx.storage;
  const key = rawFileKey(upload, file.relative);
  if (!('bytes' in body)) {
    // streamed straight into the store; a failure here ends the step with a warning
    await store.put(key, Readable.from(body.stream));
    return { path: file.path, warning: `${megabytes(file.size)} is too large to read (the limit is ${megabytes(MAX_PARSED_BYTES)}); stored, not counted` };
  }
  let stored = '';
  await store.put(key, Readable.from([body.bytes])).catch((err: unknown) => {
    stored = `; the raw file was not stored (${message(err)})`;
  });
  // the XML parser loads with the first result file: most jobs never store any
  const { JunitError, parseJunit } = await import('../test-results/junit.js');
  try {
    const report = parseJunit(body.bytes.toString('utf8'));
    return stored ? { path: file.path, report, warning: stored.slice(2) } : { path: file.path, report };
  } catch (err) {
    // the validator's errors carry a position; "not JUnit XML" does not
    const what = err instanceof JunitError && err.line !== undefined ? `malformed XML at line ${err.line}, column ${err.column ?? 0}: ${err.message}` : message(err);
    return { path: file.path, warning: `${what}; skipped${stored}` };
  }
}

/**
 * CircleCI keeps timings from successful runs only; a run whose earlier steps failed may have
 * stopped its tests part way, which would make their files look fast.
 */
async function recordTimings(ctx: StepContext, files: ReadResultFile[], warn: (text: string) => void): Promise<void> {
  const { jobName, store } = ctx.storage;
  if (ctx.jobFailed) {
    ctx.output.write('agent', `Timings not recorded: an earlier step failed (only successful runs update the timings of job ${jobName})\n`);
    return;
  }
  const records = timingsOf(
    files.flatMap((f) => f.report?.cases ?? []),
    ctx.workingDirectory,
  );
  if (records.length === 0) return;
  try {
    await saveTimings(ctx.storage, records);
    const count = (type: string): number => records.filter((r) => r.type === type).length;
    ctx.output.write('agent', `Recorded timings for job ${jobName}: ${count('file')} files, ${count('classname')} classes, ${count('testname')} test names\n`);
  } catch (err) {
    warn(`timings not recorded in ${store.location}: ${message(err)}`);
  }
}

function done(ctx: StepContext): StepResult {
  return ctx.signal.aborted ? { status: 'canceled', message: 'cancelled' } : { status: 'success' };
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
