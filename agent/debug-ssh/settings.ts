/**
 * An assignment's `ssh` section as the job uses it: the keys read (at job start, so that a
 * missing file stops the job before anything starts), CircleCI's defaults filled in.
 */
import type { SshSettings } from '../assignment/assignment.js';
import { readAuthorizedKeys, type AuthorizedKeys } from './authorized-keys.js';

/** Ports a Nomad client keeps for SSH into builds, as CircleCI Server's hardening guide opens them. */
export const SSH_PORTS = { first: 64535, last: 65535 } as const;
/** CircleCI holds a job 10 minutes for a first session, and up to 2 hours once one is open. */
export const DEFAULT_WAIT_SECONDS = 600;
export const DEFAULT_MAX_HOLD_SECONDS = 7200;
export const DEFAULT_LOGIN_GRACE_SECONDS = 30;

export interface JobSshSettings {
  keys: AuthorizedKeys;
  /** the ports to listen on: the first free one of first–last */
  ports: { first: number; last: number };
  /** the address to listen on; all when absent */
  listen?: string;
  /** the address people connect to, as printed */
  host: string;
  /** the port people connect to when it is not the one listened on */
  advertisedPort?: number;
  /** how long the end of the job waits for a first session */
  waitMs: number;
  /** how long the end of the job is held in all while sessions are open */
  maxHoldMs: number;
  /** a connection that has not logged in after this long is closed */
  loginGraceMs: number;
}

/** Undefined when SSH is not enabled; throws UsageError for keys that cannot be read. */
export function jobSshSettings(ssh: SshSettings | undefined): JobSshSettings | undefined {
  if (!ssh?.enabled) return undefined;
  return {
    keys: readAuthorizedKeys(ssh.authorizedKeys ?? [], ssh.authorizedKeyLines ?? []),
    ports: ssh.port !== undefined ? { first: ssh.port, last: ssh.port } : (ssh.ports ?? SSH_PORTS),
    ...(ssh.listen !== undefined ? { listen: ssh.listen } : {}),
    host: ssh.host ?? 'localhost',
    ...(ssh.advertisedPort !== undefined ? { advertisedPort: ssh.advertisedPort } : {}),
    waitMs: (ssh.waitSeconds ?? DEFAULT_WAIT_SECONDS) * 1000,
    maxHoldMs: (ssh.maxHoldSeconds ?? DEFAULT_MAX_HOLD_SECONDS) * 1000,
    loginGraceMs: (ssh.loginGraceSeconds ?? DEFAULT_LOGIN_GRACE_SECONDS) * 1000,
  };
}
