/**
 * `/metrics` in Prometheus' text format, through prom-client. The job counts are CircleCI Server's
 * four Nomad job counts (pending, running, complete, dead: https://circleci.com/docs/server/latest/operator/operator-overview/),
 * read from the store at each scrape; queue time and duration are histograms by resource class and
 * status; steps and output bytes are counters; capacity is read from the backend.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { JobStatus } from './store.js';

export interface MetricsSources {
  /** jobs by status, as the store counts them */
  jobCounts(): Record<string, number>;
  capacity(): { cpusUsed: number; cpusFree: number; memoryMbUsed: number; memoryMbFree: number; vmsInUse: number };
}

const PENDING: readonly JobStatus[] = ['queued', 'blocked', 'on_hold'];
const COMPLETE: readonly JobStatus[] = ['success', 'failed', 'canceled', 'not_run'];
const DEAD: readonly JobStatus[] = ['infrastructure_fail'];

export class ControlMetrics {
  readonly registry: PromClient.Registry;
  private readonly queueSeconds: PromClient.Histogram<'resource_class' | 'status'>;
  private readonly durationSeconds: PromClient.Histogram<'resource_class' | 'status'>;
  private readonly steps: PromClient.Counter<'status'>;
  private readonly outputBytes: PromClient.Counter;
  private readonly requests: PromClient.Counter<'route' | 'code'>;

  constructor(sources: MetricsSources) {
    const prom = createRequire(import.meta.url)('prom-client') as typeof PromClient;
    const registry = new prom.Registry();
    this.registry = registry;
    const sum = (counts: Record<string, number>, statuses: readonly string[]): number => statuses.reduce((n, s) => n + (counts[s] ?? 0), 0);
    new prom.Gauge({
      name: 'deckhand_jobs',
      help: 'Jobs by state, as CircleCI Server counts Nomad jobs: pending (queued, blocked, on hold), running, complete, dead (infrastructure failures)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const counts = sources.jobCounts();
        this.set({ state: 'pending' }, sum(counts, PENDING));
        this.set({ state: 'running' }, counts.running ?? 0);
        this.set({ state: 'complete' }, sum(counts, COMPLETE));
        this.set({ state: 'dead' }, sum(counts, DEAD));
      },
    });
    const capacity = (name: string, help: string, read: (c: ReturnType<MetricsSources['capacity']>) => number): void => {
      new prom.Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read(sources.capacity()));
        },
      });
    };
    capacity('deckhand_capacity_cpus_used', 'CPUs held by running jobs', (c) => c.cpusUsed);
    capacity('deckhand_capacity_cpus_free', 'CPUs left for jobs (after 2 kept back)', (c) => c.cpusFree);
    capacity('deckhand_capacity_memory_bytes_used', 'memory held by running jobs', (c) => c.memoryMbUsed * 1048576);
    capacity('deckhand_capacity_memory_bytes_free', 'memory left for jobs (after 4 GB kept back)', (c) => c.memoryMbFree * 1048576);
    capacity('deckhand_vms_in_use', 'VMs held by running machine jobs', (c) => c.vmsInUse);
    const buckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
    this.queueSeconds = new prom.Histogram({ name: 'deckhand_job_queue_seconds', help: 'time from queued to started', labelNames: ['resource_class', 'status'], buckets, registers: [registry] });
    this.durationSeconds = new prom.Histogram({ name: 'deckhand_job_duration_seconds', help: 'time from started to finished', labelNames: ['resource_class', 'status'], buckets, registers: [registry] });
    this.steps = new prom.Counter({ name: 'deckhand_steps_total', help: 'steps that ended, by status', labelNames: ['status'], registers: [registry] });
    this.outputBytes = new prom.Counter({ name: 'deckhand_output_bytes_total', help: 'bytes of job output (after masking)', registers: [registry] });
    this.requests = new prom.Counter({ name: 'deckhand_api_requests_total', help: 'API requests by route and status code', labelNames: ['route', 'code'], registers: [registry] });
  }

  /** observed when a node ends, labelled with how it ended; `durationMs` is absent for a node that never started */
  jobEnded(resourceClass: string, status: string, queuedMs: number, durationMs?: number): void {
    this.queueSeconds.observe({ resource_class: resourceClass, status }, queuedMs / 1000);
    if (durationMs !== undefined) this.durationSeconds.observe({ resource_class: resourceClass, status }, durationMs / 1000);
  }

  stepEnded(status: string): void {
    this.steps.inc({ status });
  }

  output(bytes: number): void {
    this.outputBytes.inc(bytes);
  }

  request(route: string, code: number): void {
    this.requests.inc({ route, code: String(code) });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
