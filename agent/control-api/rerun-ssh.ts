/**
 * Rerun with SSH through the control API: which public keys may log in (those the request gives,
 * else those the service was started with), and the `ssh` section of the new job run's
 * assignment (the service's port range, advertised address and hold durations). Keys a request
 * gives are public, so they are kept as a plain file under DATA/ssh-keys, one per request, which
 * the assignment refers to like any key file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SshSettings } from '../assignment/assignment.js';
import { parseAuthorizedKeys, readAuthorizedKeys } from '../debug-ssh/authorized-keys.js';
import { errorMessage, InfrastructureError } from '../errors.js';
import { HttpError } from '../net/http-error.js';
import type { JobSshRequest } from './store.js';

/** What `deckhand serve --ssh-*` sets for every rerun with SSH. */
export interface ServiceSshSettings {
  /** files of public keys used when a request gives none */
  authorizedKeys: string[];
  /** the address printed in the ssh line */
  host: string;
  port?: number;
  ports?: { first: number; last: number };
  waitSeconds?: number;
  maxHoldSeconds?: number;
}

/** at most this many keys in one request: a team's, not a directory's */
const MAX_KEYS = 100;

/**
 * The keys a rerun with SSH accepts. `given` is the request's `authorized_keys` (authorized_keys
 * lines); without it, the service's files. Neither: a 422 that says how to give some.
 */
export function sshKeysFor(given: unknown, service: ServiceSshSettings, keysDir: string, name: string): JobSshRequest {
  if (given !== undefined) {
    if (!Array.isArray(given) || given.length === 0 || given.length > MAX_KEYS || !given.every((k) => typeof k === 'string')) {
      throw new HttpError(400, `"authorized_keys" must be a list of 1 to ${MAX_KEYS} public key lines such as "ssh-ed25519 AAAA… you@laptop"`);
    }
    const lines = given as string[];
    if (lines.some((l) => /[\r\n]/.test(l))) throw new HttpError(400, '"authorized_keys": one key per list item, without line breaks');
    const parsed = parseAuthorizedKeys(lines.join('\n'), 'authorized_keys');
    if (parsed.skipped.length > 0) throw new HttpError(422, `${parsed.skipped[0].replace(/^authorized_keys:(\d+)/, (_m, n: string) => `"authorized_keys" item ${Number(n) - 1}`)}`);
    mkdirSync(keysDir, { recursive: true });
    const file = join(keysDir, `${name}.pub`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return { authorizedKeys: [file], fingerprints: parsed.keys.map((k) => k.fingerprint) };
  }
  if (service.authorizedKeys.length === 0) {
    throw new HttpError(422, 'a rerun with SSH needs public keys: give them in the request as "authorized_keys": ["ssh-ed25519 AAAA…"], or start deckhand serve with --ssh-authorized-keys FILE');
  }
  try {
    const keys = readAuthorizedKeys(service.authorizedKeys);
    return { authorizedKeys: service.authorizedKeys, fingerprints: keys.keys.map((k) => k.fingerprint) };
  } catch (err) {
    // the service's own files went missing or empty since it started: the operator's to fix
    throw new HttpError(503, `the service's --ssh-authorized-keys cannot be used: ${errorMessage(err)}`);
  }
}

/** The new job run's assignment `ssh` section. */
export function assignmentSsh(request: JobSshRequest, service: ServiceSshSettings): SshSettings {
  return {
    enabled: true,
    authorizedKeys: request.authorizedKeys,
    host: service.host,
    ...(service.port !== undefined ? { port: service.port } : service.ports ? { ports: service.ports } : {}),
    ...(service.waitSeconds !== undefined ? { waitSeconds: service.waitSeconds } : {}),
    ...(service.maxHoldSeconds !== undefined ? { maxHoldSeconds: service.maxHoldSeconds } : {}),
  };
}

/**
 * The new job run's assignment `ssh` section for a job that runs on another machine (a Nomad
 * client), which has none of this machine's key files: the request's keys as inline lines (public,
 * so they may travel in a dispatch payload), without the address and port, which the client's
 * agent takes from where it runs (NOMAD_HOST_IP_ssh and NOMAD_HOST_PORT_ssh).
 */
export function inlineAssignmentSsh(request: JobSshRequest, service: ServiceSshSettings): SshSettings {
  let lines: string[];
  try {
    // each key as `TYPE BASE64`: comments and anything not a key stay on this machine
    lines = readAuthorizedKeys(request.authorizedKeys).keys.map((k) => `${k.type} ${k.blob.toString('base64')}`);
  } catch (err) {
    throw new InfrastructureError(`the rerun's SSH keys cannot be read on the service's machine: ${errorMessage(err)}`);
  }
  return {
    enabled: true,
    authorizedKeyLines: lines,
    ...(service.waitSeconds !== undefined ? { waitSeconds: service.waitSeconds } : {}),
    ...(service.maxHoldSeconds !== undefined ? { maxHoldSeconds: service.maxHoldSeconds } : {}),
  };
}

