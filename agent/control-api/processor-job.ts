/**
 * Reading one job run at the output processor's HTTP side, for a job node that runs elsewhere (a
 * Nomad client) and sends its output there: its job JSON (with the latest SSH status, followed by
 * processor-ssh.ts) and its live tail (read back at the node's end by processor-log.ts).
 */
import { loadSecret, readToken } from '../processor/tokens.js';

/** How the service reads one job at the output processor's HTTP side. */
export interface ProcessorJobRead {
  /** the job's JSON: BASE/api/jobs/RUN_ID */
  url: string;
  /** a read token for that job, when the processor wants one */
  token?: string;
}

/** The request headers of a read: the token, when there is one. */
export function readHeaders(read: ProcessorJobRead): Record<string, string> {
  return read.token ? { authorization: `Bearer ${read.token}` } : {};
}

/**
 * How the service reads a run's job at the output processor: at its HTTP address, with a read
 * token minted from its secret (a processor started with `--http-auth tokens` wants one; others
 * ignore it). No HTTP address known: nothing to read.
 */
export function processorJobReader(liveUrl: string | undefined, secretFile: string | undefined): (runId: string) => ProcessorJobRead | undefined {
  let secret: Buffer | undefined;
  return (runId) => {
    if (!liveUrl) return undefined;
    if (secretFile && !secret) {
      try {
        secret = loadSecret(secretFile, false);
      } catch {
        // unreadable here: read without a token, which a processor without read tokens accepts
      }
    }
    return { url: `${liveUrl.replace(/\/+$/, '')}/api/jobs/${encodeURIComponent(runId)}`, ...(secret ? { token: readToken(secret, runId) } : {}) };
  };
}
