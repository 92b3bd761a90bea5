/**
 * At spin-up, the job's stored timings go into the container, where `circleci tests split
 * --split-by=timings` reads them: `$CIRCLE_INTERNAL_TASK_DATA/test-timings.tsv`, one
 * `type<TAB>name<TAB>seconds` line per file, class and test. No stored timings, no file (the
 * tool then falls back to names with CircleCI's message) and no extra copy into the container.
 */
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Executor } from '../executor/executor.js';
import { TIMINGS_FILE } from '../job-tools/install.js';
import type { StepOutput } from '../steps/step.js';
import type { JobStorage } from '../store/job-storage.js';
import { loadTimings } from './stored-timings.js';
import { encodeTimings } from './timings.js';

/** Copies the merged timings of the job into `taskDataDir`; returns how many records. Never throws: a problem is a warning. */
export async function deliverTimings(executor: Executor, storage: JobStorage, taskDataDir: string, output: Pick<StepOutput, 'write'>, signal?: AbortSignal): Promise<number> {
  try {
    const records = await loadTimings(storage);
    if (records.length === 0) return 0;
    const body = Buffer.from(encodeTimings(records));
    const pack = tar.pack();
    pack.entry({ name: TIMINGS_FILE, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date(), size: body.length }, body);
    pack.finalize();
    await executor.copyIn(taskDataDir, Readable.from(pack, { objectMode: false }), signal);
    return records.length;
  } catch (err) {
    output.write('agent', `warning: test timings of job ${storage.jobName} not available to circleci tests split: ${err instanceof Error ? err.message : String(err)}\n`);
    return 0;
  }
}
