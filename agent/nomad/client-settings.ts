/**
 * What a Nomad client's operator sets for every job the client runs (the task driver passes it
 * from its plugin config to `deckhand agent nomad-task`), applied to an assignment made by a
 * dispatcher that cannot know each client's set-up:
 *
 * - the store replaces `storage.url`: caches, workspaces and artifacts go where this client's
 *   store is, whatever folder the machine that made the assignment used;
 * - the output processor fills in `output` when the assignment streams nowhere (the job's id at
 *   the processor is the run's id, its token minted from the processor's secret file), and
 *   replaces the address of one that does.
 */
import type { JobAssignment } from '../assignment/assignment.js';
import { UsageError } from '../errors.js';

export interface ClientSettings {
  store?: string;
  outputProcessor?: string;
  outputSecretFile?: string;
  outputUrl?: string;
}

/** Output delivery after the job ended, when the assignment says nothing (as `deckhand execute` does). */
const DEFAULT_OUTPUT_DEADLINE_SECONDS = 60;

export function applyClientSettings(assignment: JobAssignment, settings: ClientSettings): JobAssignment {
  let out = assignment;
  if (settings.store) out = { ...out, storage: { ...out.storage, url: settings.store } };
  if (settings.outputProcessor === undefined) {
    if (settings.outputSecretFile !== undefined || settings.outputUrl !== undefined) {
      throw new UsageError('--output-secret-file and --output-url need --output-processor HOST:PORT too');
    }
    return out;
  }
  const current = out.output;
  if (current) {
    out = {
      ...out,
      output: {
        ...current,
        processor: settings.outputProcessor,
        ...(current.token === undefined && current.tokenSecretFile === undefined && settings.outputSecretFile ? { tokenSecretFile: settings.outputSecretFile } : {}),
        ...(settings.outputUrl && current.url === undefined ? { url: settings.outputUrl } : {}),
      },
    };
  } else {
    if (settings.outputSecretFile === undefined) {
      throw new UsageError(`--output-processor ${settings.outputProcessor} for an assignment without output needs --output-secret-file (the processor's secret) to mint the job's token`);
    }
    out = {
      ...out,
      output: {
        processor: settings.outputProcessor,
        jobId: out.run.id,
        tokenSecretFile: settings.outputSecretFile,
        deadlineSeconds: DEFAULT_OUTPUT_DEADLINE_SECONDS,
        ...(settings.outputUrl ? { url: settings.outputUrl } : {}),
      },
    };
  }
  return out;
}
