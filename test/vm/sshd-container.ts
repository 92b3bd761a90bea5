// A stand-in for an EC2 instance's sshd: a container of the Debian test image (it has
// openssh-server), published on 127.0.0.1 only and labelled so that a test can remove what it left.
// Given the user data EC2 stored for an instance, it runs that script as cloud-init would (as
// root, once), so the sshd that answers has the host key and login key the provider put there.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DEBIAN } from '../executor/docker/engine-fixture.js';

const run = promisify(execFile);

export const TEST_LABEL = 'com.deckhand.test';

export interface SshdContainer {
  id: string;
  /** the published SSH port on 127.0.0.1 */
  port: number;
  remove(): Promise<void>;
}

/** Starts the container, and runs `userData` in it (which starts sshd). */
export async function startSshd(label: string, userData: string): Promise<SshdContainer> {
  const { stdout } = await run('docker', ['run', '-d', '--label', `${TEST_LABEL}=${label}`, '-p', '127.0.0.1::22', DEBIAN, 'sleep', 'infinity']);
  const id = stdout.trim();
  const remove = async (): Promise<void> => {
    await run('docker', ['rm', '-f', id]).catch(() => undefined);
  };
  try {
    await run('docker', ['exec', id, 'sh', '-c', userData]);
    const published = (await run('docker', ['port', id, '22/tcp'])).stdout.trim().split('\n')[0] ?? '';
    const port = Number(published.slice(published.lastIndexOf(':') + 1));
    if (!Number.isInteger(port) || port <= 0) throw new Error(`no published SSH port in "${published}"`);
    return { id, port, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** Removes every container carrying `label` (what a failed test may have left). */
export async function removeLabelled(label: string): Promise<void> {
  const { stdout } = await run('docker', ['ps', '-aq', '--filter', `label=${TEST_LABEL}=${label}`]);
  const ids = stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await run('docker', ['rm', '-f', ...ids]);
}
