/**
 * A task's `config` block (`driver = "deckhand"`): where its assignment comes from, and the
 * task's kill timeout, which the agent needs to budget a graceful cancel.
 *
 *   config {
 *     payload         = "payload"        # the dispatch payload's file under local/ (the default)
 *     # or: assignment_path = "/srv/ci/assignment.json"   a file on the client
 *     # or: assignment      = file("assignment.json")     the assignment itself, inline
 *     kill_timeout    = "30s"            # the task's kill_timeout (Nomad's default is 5s)
 *   }
 */
import { parseKillTimeout } from '../../../agent/nomad/kill-timeout.js';
import { attr, object, withDefault, type Spec } from '../base/hclspec.js';
import { ConfigError, decodeMap, optionalString } from '../base/plugin-config.js';

export type AssignmentSource = { kind: 'payload'; file: string } | { kind: 'path'; path: string } | { kind: 'inline'; text: string };

export interface DeckhandTaskConfig {
  source: AssignmentSource;
  /** the task's kill_timeout as written (passed on to the agent) and in ms */
  killTimeout: string;
  killTimeoutMs: number;
}

/** Nomad's kill_timeout when a task sets none (structs.DefaultKillTimeout). */
export const NOMAD_DEFAULT_KILL_TIMEOUT = '5s';

export function taskConfigSpec(): Spec {
  return object({
    payload: attr('payload', 'string'),
    assignment_path: attr('assignment_path', 'string'),
    assignment: attr('assignment', 'string'),
    kill_timeout: withDefault(attr('kill_timeout', 'string'), JSON.stringify(NOMAD_DEFAULT_KILL_TIMEOUT)),
  });
}

export function decodeTaskConfig(bytes: Uint8Array): DeckhandTaskConfig {
  const value = bytes.length === 0 ? {} : decodeMap(bytes, 'the task config');
  const where = 'task config';
  const payload = optionalString(value, 'payload', where);
  const path = optionalString(value, 'assignment_path', where);
  const inline = optionalString(value, 'assignment', where);
  const given = [payload !== undefined && 'payload', path !== undefined && 'assignment_path', inline !== undefined && 'assignment'].filter(Boolean);
  if (given.length > 1) throw new ConfigError(`${where}: ${given.join(' and ')} are both set: the assignment comes from one place; keep one`);
  let source: AssignmentSource;
  if (path !== undefined) source = { kind: 'path', path };
  else if (inline !== undefined) source = { kind: 'inline', text: inline };
  else {
    const file = payload ?? 'payload';
    if (file.startsWith('/') || file.split('/').includes('..')) {
      throw new ConfigError(`${where}: payload ${JSON.stringify(file)} must be a file name under the task's local/ folder, as dispatch_payload's file is; for a file elsewhere use assignment_path`);
    }
    source = { kind: 'payload', file };
  }
  const killTimeout = optionalString(value, 'kill_timeout', where) ?? NOMAD_DEFAULT_KILL_TIMEOUT;
  let killTimeoutMs: number;
  try {
    killTimeoutMs = parseKillTimeout(killTimeout, 'kill_timeout');
  } catch (err) {
    throw new ConfigError(`${where}: ${(err as Error).message}`);
  }
  return { source, killTimeout, killTimeoutMs };
}
