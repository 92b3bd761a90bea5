/**
 * What streaming to an output processor adds around a job: the streaming sink (placed with the
 * display, behind masking), connection news while the job runs, the processor's admission before
 * the first step, and at the end where the job's output is and whether all of it arrived. Output
 * that was not all delivered and verified is part of the job's result: the run exits 2, so that an
 * operator can tell from the exit code alone that output was lost.
 */
import { formatDeliveryReport, type DeliveryReport } from './delivery.js';
import { GrpcOutputSink } from './grpc-sink.js';
import type { OutputStreamOptions } from './stream-options.js';

/** How long the first step waits for the processor's answer to the job (an unreachable one is not waited for). */
const ADMISSION_WAIT_MS = 5000;

export interface JobStream {
  sink: GrpcOutputSink;
  /** Resolves when the processor took the job, is unreachable for now, or did not answer in time; rejects when it refused the job. */
  admitted(): Promise<void>;
  /** Where the output went and how delivery ended; call after the sink closed. */
  delivery(): OutputDelivery;
}

/** The output part of a job's result. */
export interface OutputDelivery {
  jobId: string;
  /** the job's page, or `job ID at output processor HOST:PORT` */
  where: string;
  /** absent when the job produced no output at all */
  report?: DeliveryReport;
  /** every byte stored at the processor and checked against the job's totals */
  delivered: boolean;
}

export function startJobStream(options: OutputStreamOptions, job: { name: string; stepCount: number }, news: (line: string) => void): JobStream {
  const { jobId } = options;
  const sink = new GrpcOutputSink({
    target: options.target,
    jobId,
    ...(options.token ? { token: options.token } : {}),
    ...(options.tlsCa ? { tlsCa: options.tlsCa } : {}),
    ...(options.tlsClient ? { tlsClient: options.tlsClient } : {}),
    stepCount: job.stepCount,
    jobName: job.name,
    deadlineMs: options.deadlineMs,
    log: news,
  });
  return {
    sink,
    async admitted() {
      let timer: NodeJS.Timeout | undefined;
      const patience = new Promise<void>((resolve) => (timer = setTimeout(resolve, ADMISSION_WAIT_MS)));
      try {
        await Promise.race([sink.admitted(), patience]);
      } finally {
        clearTimeout(timer);
      }
    },
    delivery() {
      const report = sink.report();
      const where = options.urlBase ? `${options.urlBase}/jobs/${encodeURIComponent(jobId)}` : `job ${jobId} at output processor ${options.target}`;
      return { jobId, where, ...(report ? { report } : {}), delivered: report === undefined || (report.complete && report.verified) };
    },
  };
}

/** The line for the end of a job (`Output: …`), and the delivery report's line when something is missing. */
export function formatOutputDelivery(d: OutputDelivery): { summary: string; problem?: string } {
  if (!d.report) return { summary: `Output: ${d.where}` };
  const state = d.delivered ? 'delivered and verified' : d.report.complete ? 'delivered, NOT verified' : 'NOT fully delivered';
  return { summary: `Output: ${d.where} (${state})`, ...(d.delivered ? {} : { problem: formatDeliveryReport(d.report) }) };
}
