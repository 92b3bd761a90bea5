/**
 * Where a job that runs elsewhere (a Nomad client) stands with SSH, as the service learns it: the
 * job's agent sends each change as an SshStatus event to the output processor
 * (docs/output-protocol.md), and the processor's job JSON shows the latest. The service reads that
 * JSON every so often while the node runs and hands each change on, as the local backend hands on
 * what its own job reports.
 */
import { errorMessage } from '../errors.js';
import { readHeaders, type ProcessorJobRead } from './processor-job.js';
import type { NodeSsh } from './store.js';

/** often enough that the line shows about when the job prints it, rare enough to cost nothing */
export const SSH_POLL_MS = 500;

/**
 * Reads `read` every `everyMs` until `signal` aborts, calling `changed` with each new SSH state.
 * A job the processor does not have yet (404) or a processor that does not answer is asked again;
 * `trouble` hears about the first failure of a run of them, once.
 */
export async function followProcessorSsh(read: ProcessorJobRead, changed: (ssh: NodeSsh) => void, signal: AbortSignal, trouble: (line: string) => void, everyMs = SSH_POLL_MS): Promise<void> {
  let last = '';
  let failing = false;
  while (!signal.aborted) {
    try {
      const res = await fetch(read.url, { headers: readHeaders(read), signal });
      if (res.status === 200) {
        const ssh = sshOf(await res.json());
        failing = false;
        const key = ssh ? JSON.stringify(ssh) : '';
        if (ssh && key !== last) {
          last = key;
          changed(ssh);
        }
        // the server is gone: nothing more will change
        if (ssh?.phase === 'ended') return;
      } else {
        await res.body?.cancel();
        // 404: the job has not opened its stream yet
        if (res.status !== 404) throw new Error(`HTTP ${res.status}`);
      }
    } catch (err) {
      if (signal.aborted) return;
      if (!failing) trouble(`cannot read the job's SSH status at the output processor (${read.url}): ${errorMessage(err)}; trying again`);
      failing = true;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, everyMs);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The `ssh` of the processor's job JSON as the store keeps it; undefined when there is none or it is not one. */
function sshOf(job: unknown): NodeSsh | undefined {
  const s = (job as { ssh?: Record<string, unknown> } | null)?.ssh;
  if (!s || typeof s !== 'object') return undefined;
  const text = (k: string): string | undefined => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
  const whole = (k: string): number | undefined => (Number.isInteger(s[k]) ? (s[k] as number) : undefined);
  const phase = text('phase');
  if (phase !== 'listening' && phase !== 'holding' && phase !== 'ended') return undefined;
  const fields = { command: text('command'), host: text('host'), port: whole('port'), user: text('user'), hostKey: text('hostKey'), hostKeyFingerprint: text('hostKeyFingerprint') };
  return { phase, sessions: whole('sessions') ?? 0, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
}
