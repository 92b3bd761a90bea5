/**
 * What `deckhand execute --output-processor` adds around a job: the streaming sink (placed with
 * the display, behind masking), connection news on stderr while the job runs, and at the end the
 * job's id and address plus the delivery report. Delivery never changes the job's exit code.
 */
import type { Writable } from 'node:stream';
import { jobToken } from '../../processor/tokens.js';
import { formatDeliveryReport } from './delivery.js';
import { GrpcOutputSink } from './grpc-sink.js';
import type { OutputStreamOptions } from './stream-options.js';

export interface JobStream {
  sink: GrpcOutputSink;
  jobId: string;
  /** Prints where the job's output is and, on stderr, anything that was not delivered. Call after the sink closed. */
  summarize(out: Writable, err: Writable): void;
}

export function startJobStream(options: OutputStreamOptions, job: { name: string; stepCount: number; defaultJobId: string }, news: Writable): JobStream {
  const jobId = options.jobId ?? job.defaultJobId;
  const token = options.token ?? (options.tokenSecret ? jobToken(options.tokenSecret, jobId) : undefined);
  const sink = new GrpcOutputSink({
    target: options.target,
    jobId,
    ...(token ? { token } : {}),
    ...(options.tlsCa ? { tlsCa: options.tlsCa } : {}),
    ...(options.tlsClient ? { tlsClient: options.tlsClient } : {}),
    stepCount: job.stepCount,
    jobName: job.name,
    deadlineMs: options.deadlineMs,
    log: (line) => void news.write(`deckhand: ${line}\n`),
  });
  return {
    sink,
    jobId,
    summarize(out, err) {
      const report = sink.report();
      const where = options.urlBase ? `${options.urlBase}/jobs/${encodeURIComponent(jobId)}` : `job ${jobId} at output processor ${options.target}`;
      if (!report) {
        out.write(`Output: ${where}\n`);
        return;
      }
      const delivered = report.complete && report.verified;
      out.write(`Output: ${where} (${delivered ? 'delivered and verified' : report.complete ? 'delivered, NOT verified' : 'NOT fully delivered'})\n`);
      if (!delivered) err.write(`deckhand: ${formatDeliveryReport(report)}\n`);
    },
  };
}
