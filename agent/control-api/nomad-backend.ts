/**
 * The Nomad backend: each job node is dispatched to the parameterized job of its resource class
 * (`deckhand nomad job` renders them; agent/nomad/dispatch.ts sends the dispatch), and followed to
 * its allocation's end. Nomad decides where and when it runs, so capacity here is only a bound on
 * dispatches in flight; the clients keep their own 2 CPUs and 4 GB back (`deckhand nomad
 * client-config`). A cancel stops the dispatched job (DELETE /v1/job/ID), which gives the task its
 * kill timeout. The job's output reaches the output processor from the client: while the node
 * runs, its log here holds what the dispatch said; when it ends, the job is read back from the
 * processor into that log, with its steps (processor-log.ts).
 */
import { appendFileSync } from 'node:fs';
import type { OutputTarget } from '../assignment/assignment.js';
import type { Logger } from '../daemon-log.js';
import { errorMessage } from '../errors.js';
import { dispatchAssignment, followDispatchedJob } from '../nomad/dispatch.js';
import { jobIdFor } from '../nomad/job-file.js';
import { NomadApi, pathSegment, type NomadConnection } from '../nomad/nomad-api.js';
import type { Capacity, Size } from '../workflow/capacity.js';
import { nodeLogFile } from './local-backend.js';
import { readBackProcessorLog } from './processor-log.js';
import { nodeAssignment } from './node-assignment.js';
import { NodeSlots, nodeSize } from './node-slots.js';
import { followProcessorSsh } from './processor-ssh.js';
import { inlineAssignmentSsh } from './rerun-ssh.js';
import type { Backend, BackendFactory, BackendSettings, NodeEvents, NodeLaunch } from './scheduler.js';

export interface NomadBackendOptions {
  /** the Nomad agent, with its token, namespace, region and TLS files */
  connection: NomadConnection;
  log: Logger;
  /** dispatches in flight at once */
  capacity: Capacity;
}

/** `settings.storeUrl` is the one the clients use: an s3:// URL, as they do not share this machine's folders. */
export function nomadBackendFactory(opts: NomadBackendOptions): BackendFactory {
  return (output, settings) => new NomadBackend(opts, output, settings);
}

interface InFlight {
  abort: AbortController;
  /** stops following the job's SSH status at the processor */
  sshWatch?: AbortController;
  /** the dispatched job's id, once Nomad has answered */
  dispatched?: string;
  size: Size;
}

class NomadBackend implements Backend {
  readonly name = 'nomad';
  private readonly api: NomadApi;
  private readonly inFlight: NodeSlots<InFlight>;

  constructor(
    private readonly opts: NomadBackendOptions,
    private readonly output: (runId: string) => OutputTarget | null,
    private readonly settings: BackendSettings,
  ) {
    this.api = new NomadApi(opts.connection);
    this.inFlight = new NodeSlots(opts.capacity);
  }

  get running(): number {
    return this.inFlight.running;
  }

  fits(size: Size): boolean {
    return this.inFlight.fits(size);
  }

  start(launch: NodeLaunch, events: NodeEvents): { ranOn: string } {
    const { node, job, pipeline } = launch;
    const spec = job.spec!;
    const { assignment } = nodeAssignment(launch, {
      storeUrl: this.settings.storeUrl,
      contextsFile: this.settings.contextsFile,
      sshKeysDir: this.settings.sshKeysDir,
      output: this.output(node.id),
      runtime: { docker: { pull: 'missing', network: 'bridge' }, machine: { provider: 'docker' } },
      // the client clones the repository; an uploaded config has none to clone
      skipCheckout: !pipeline.repository,
    });
    const source = pipeline.repository ? { kind: 'git' as const, url: pipeline.repository, ...(pipeline.revision ? { revision: pipeline.revision } : {}) } : assignment.source;
    // the client has none of this machine's key files: the keys go inline, the address is the client's
    if (job.ssh) assignment.ssh = inlineAssignmentSsh(job.ssh, this.settings.ssh);
    const entry = this.track(node.id, nodeSize(spec));
    const say = this.sayer(node.id);
    if (job.ssh) this.watchSsh(node.id, entry, events, say);
    // the run's id is the idempotency token: a dispatch retried after a lost answer makes one job
    const ended = dispatchAssignment(this.api, { assignment: { ...assignment, source }, wait: false, say, signal: entry.abort.signal, idempotencyToken: node.id }).then((r) => {
      entry.dispatched = r.dispatchedJobId;
      events.placed(`nomad:${r.dispatchedJobId}`);
      return followDispatchedJob(this.api, r.dispatchedJobId, { say, signal: entry.abort.signal });
    });
    this.settle(node.id, entry, ended, events);
    return { ranOn: `nomad:${jobIdFor(spec.resources.class)}` };
  }

  /**
   * After a restart: a node the last service dispatched is followed again where Nomad has it,
   * rather than marked failed while its job goes on running.
   */
  adopt(launch: NodeLaunch, events: NodeEvents): boolean {
    const dispatched = /^nomad:(.+\/dispatch-.+)$/.exec(launch.node.ranOn ?? '')?.[1];
    if (!dispatched) return false;
    const entry = this.track(launch.node.id, nodeSize(launch.job.spec!));
    entry.dispatched = dispatched;
    const say = this.sayer(launch.node.id);
    say(`the control API restarted: following ${dispatched} again`);
    if (launch.job.ssh) this.watchSsh(launch.node.id, entry, events, say);
    this.settle(launch.node.id, entry, followDispatchedJob(this.api, dispatched, { say, signal: entry.abort.signal }), events);
    return true;
  }

  private track(nodeId: string, size: Size): InFlight {
    return this.inFlight.take(nodeId, { abort: new AbortController(), size });
  }

  /**
   * A rerun with SSH: its agent reports the SSH status to the output processor, whose job JSON
   * the service follows until the node ends. With no processor HTTP address known, the job's
   * ssh stays `starting` here (its ssh line is in its output).
   */
  private watchSsh(nodeId: string, entry: InFlight, events: NodeEvents, say: (line: string) => void): void {
    const read = this.settings.processorJob(nodeId);
    if (!read) {
      say('the ssh line cannot reach this job\'s answer: the service knows no HTTP address of the output processor (start deckhand serve with --output-url); it is in the job\'s output');
      return;
    }
    entry.sshWatch = new AbortController();
    void followProcessorSsh(read, events.ssh, entry.sshWatch.signal, (line) => {
      say(line);
      this.opts.log.log('warn', line, { runId: nodeId });
    });
  }

  /** the node's log here: what the dispatch said, then the job as the processor has it */
  private sayer(nodeId: string): (line: string) => void {
    const logFile = nodeLogFile(this.settings.logsDir, nodeId);
    return (line) => appendFileSync(logFile, `${line}\n`);
  }

  private settle(nodeId: string, entry: InFlight, ended: Promise<{ exitCode: number; description: string }>, events: NodeEvents): void {
    ended
      .then(
        (end) => {
          const code = end.exitCode;
          return { status: code === 0 ? ('success' as const) : code === 130 || code === 143 ? ('canceled' as const) : ('failed' as const), exitCode: code, infrastructureFailure: code === 2, ...(code !== 0 && end.description ? { reason: end.description } : {}) };
        },
        (err: unknown) => ({ status: entry.abort.signal.aborted ? ('canceled' as const) : ('failed' as const), exitCode: 2, infrastructureFailure: !entry.abort.signal.aborted, reason: `Nomad: ${errorMessage(err)}` }),
      )
      .then(async (result) => {
        entry.sshWatch?.abort();
        // the node's output and steps, from the processor its agent sent them to
        const read = this.settings.processorJob(nodeId);
        const back = read ? await readBackProcessorLog(read, nodeLogFile(this.settings.logsDir, nodeId)).catch(() => undefined) : undefined;
        if (back) events.steps(back.steps, back.outputBytes);
        this.inFlight.release(nodeId);
        events.ended(result);
      });
  }

  cancel(nodeId: string): void {
    const entry = this.inFlight.get(nodeId);
    if (!entry) return;
    const stop = entry.dispatched ? this.api.request('DELETE', `/v1/job/${pathSegment(entry.dispatched)}`).catch((err: unknown) => this.opts.log.log('warn', `could not stop Nomad job ${entry.dispatched}: ${errorMessage(err)}`)) : Promise.resolve();
    void stop.finally(() => entry.abort.abort());
  }

  capacity(): ReturnType<Backend['capacity']> {
    return this.inFlight.usage();
  }

  async close(): Promise<void> {
    for (const [id] of this.inFlight.entries()) this.cancel(id);
  }
}
