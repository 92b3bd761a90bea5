/**
 * SSH into a job on Nomad: the job file gives the task a dynamic port labelled `ssh` (job-file.ts),
 * from the client's 64535–65535 (client-config.ts). Nomad tells the task which one it got
 * (https://developer.hashicorp.com/nomad/docs/runtime/environment): NOMAD_PORT_ssh is the port
 * to listen on; NOMAD_HOST_PORT_ssh and NOMAD_HOST_IP_ssh (NOMAD_IP_ssh) where others reach it.
 * The assignment's own port or range gives way to it; its own address to show, if any, stays.
 */
import type { JobAssignment } from '../assignment/assignment.js';
import { UsageError } from '../errors.js';
import { SSH_PORT_LABEL } from './job-file.js';

export function withNomadSshPort(assignment: JobAssignment, env: Readonly<Record<string, string | undefined>>): JobAssignment {
  const ssh = assignment.ssh;
  if (!ssh?.enabled) return assignment;
  const port = portOf(env, `NOMAD_PORT_${SSH_PORT_LABEL}`);
  if (port === undefined) return assignment;
  const hostPort = portOf(env, `NOMAD_HOST_PORT_${SSH_PORT_LABEL}`);
  const ip = env[`NOMAD_HOST_IP_${SSH_PORT_LABEL}`] || env[`NOMAD_IP_${SSH_PORT_LABEL}`] || undefined;
  const { ports: _range, ...rest } = ssh;
  return {
    ...assignment,
    ssh: {
      ...rest,
      port,
      ...(hostPort !== undefined && hostPort !== port && ssh.advertisedPort === undefined ? { advertisedPort: hostPort } : {}),
      ...(ssh.host === undefined && ip ? { host: ip } : {}),
    },
  };
}

function portOf(env: Readonly<Record<string, string | undefined>>, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new UsageError(`${name} is ${JSON.stringify(text)}: it must be a TCP port (1 to 65535)`);
  return port;
}
