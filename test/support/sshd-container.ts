// A real sshd to test the machine executor against: a container of deckhand-test/sshd:bookworm
// (images/sshd: Debian, sshd, sudo, the users `circleci` and `user`) with a host key and a user
// key made for it alone, SSH published on 127.0.0.1. Labelled, and removed by `remove()`.

import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import ssh2 from 'ssh2';
import tar from 'tar-stream';
import type { VmAccess } from '../../agent/vm/provider.js';
import { connectDocker } from '../../agent/executor/docker/engine.js';
import { readAll } from '../executor/docker/engine-fixture.js';

export const SSHD_IMAGE = 'deckhand-test/sshd:bookworm';
/** On every container made here: `docker ps -a --filter label=com.deckhand.test=sshd`. */
export const SSHD_LABEL = 'com.deckhand.test';

export interface SshdContainer {
  readonly id: string;
  readonly port: number;
  /** `ssh-ed25519 AAAA…` of the container's sshd */
  readonly hostKey: string;
  /** the private key every user of the container accepts (OpenSSH format) */
  readonly privateKey: Buffer;
  /** How the executor reaches the container as `user` (default `circleci`). */
  access(user?: string): VmAccess;
  /** Runs a script in the container as root, through the engine (not SSH). */
  sh(script: string): Promise<{ exitCode: number; output: string }>;
  /** The container's processes other than the sshd listener, as `PID COMMAND`. */
  processes(): Promise<string[]>;
  /** Waits (up to `ms`, default 1.5 s) for processes() to be empty, and returns what is left. */
  settledProcesses(ms?: number): Promise<string[]>;
  /** What sshd logged (it runs with -e: to the container's output). */
  logs(): Promise<string>;
  /** The VM dies at once: SIGKILL to the container. */
  kill(): Promise<void>;
  /** The VM freezes: its processes stop, while its kernel still holds the TCP connection. */
  pause(): Promise<void>;
  /** Removes the container (forced; paused or not). Idempotent. */
  remove(): Promise<void>;
}

export async function startSshd(name: string, docker: Docker = connectDocker()): Promise<SshdContainer> {
  await docker
    .getImage(SSHD_IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`test image ${SSHD_IMAGE} is missing; run scripts/build-test-images.sh (make images)`);
    });
  const host = ed25519KeyPair('deckhand-test-host');
  const user = ed25519KeyPair('deckhand-test-user');
  const container = await docker.createContainer({
    name: `deckhand-test-sshd-${name}-${randomBytes(4).toString('hex')}`,
    Image: SSHD_IMAGE,
    Labels: { [SSHD_LABEL]: 'sshd' },
    ExposedPorts: { '22/tcp': {} },
    HostConfig: { PortBindings: { '22/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  let removed = false;
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    // a frozen container is thawed first: removing it then kills it
    await container.unpause().catch(() => undefined);
    await container.remove({ force: true, v: true }).catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
  };
  try {
    await container.putArchive(keyFiles(host.private, user.public), { path: '/' });
    await container.start();
    const info = await container.inspect();
    const port = Number(info.NetworkSettings.Ports['22/tcp']?.[0]?.HostPort);
    if (!port) throw new Error(`the sshd container ${container.id.slice(0, 12)} has no published port`);
    await sshdAnswers(port);
    const sh = async (script: string): Promise<{ exitCode: number; output: string }> => {
      const exec = await container.exec({ Cmd: ['/bin/sh', '-c', script], AttachStdout: true, AttachStderr: true, Tty: true });
      const output = (await readAll((await exec.start({ hijack: true, stdin: false, Tty: true })) as unknown as Readable)).toString('utf8');
      // the engine reports the exit code a moment after the output ends
      for (let i = 0; i < 100; i++) {
        const state = await exec.inspect();
        if (!state.Running && state.ExitCode !== null) return { exitCode: state.ExitCode, output };
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`no exit code for "${script}" in the sshd container`);
    };
    const processes = async (): Promise<string[]> => {
      const top = (await container.top({ ps_args: '-o pid,args' })) as { Titles: string[]; Processes: string[][] };
      return top.Processes.map((row) => row.join(' ')).filter((line) => !/sshd: \/usr\/sbin\/sshd -D -e|\[listener\]/.test(line));
    };
    return {
      id: container.id,
      port,
      hostKey: host.public,
      privateKey: Buffer.from(user.private),
      access: (login = 'circleci') => ({ host: '127.0.0.1', port, user: login, privateKey: Buffer.from(user.private), hostKey: host.public }),
      sh,
      processes,
      async settledProcesses(ms = 1_500) {
        const deadline = Date.now() + ms;
        for (;;) {
          const left = await processes();
          if (left.length === 0 || Date.now() > deadline) return left;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      },
      async logs() {
        const raw = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
        // multiplexed frames: 8-byte headers, then the bytes
        const parts: Buffer[] = [];
        for (let at = 0; at + 8 <= raw.length; ) {
          const size = raw.readUInt32BE(at + 4);
          parts.push(raw.subarray(at + 8, at + 8 + size));
          at += 8 + size;
        }
        return Buffer.concat(parts).toString('utf8');
      },
      async kill() {
        await container.kill();
      },
      async pause() {
        await container.pause();
      },
      remove,
    };
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}

/**
 * An ed25519 key pair in OpenSSH format that ssh2 can read back. About 1 in 256 of those ssh2
 * generates cannot be (it drops a public key's leading zero byte:
 * https://github.com/mscdex/ssh2/issues/1390), so such a pair is made again.
 */
export function ed25519KeyPair(comment: string): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error) && !(ssh2.utils.parseKey(pair.public) instanceof Error)) return pair;
  }
}

/** The host key and one authorized_keys file for every user (images/sshd/sshd_config). */
function keyFiles(hostPrivateKey: string, userPublicKey: string): Readable {
  const pack = tar.pack();
  const file = (name: string, text: string, mode: number): void => {
    pack.entry({ name, mode, uid: 0, gid: 0, size: Buffer.byteLength(text), type: 'file' }, text);
  };
  file('etc/ssh/deckhand_host_key', `${hostPrivateKey.trim()}\n`, 0o600);
  file('etc/ssh/deckhand_authorized_keys', `${userPublicKey.trim()}\n`, 0o644);
  pack.finalize();
  return Readable.from(pack, { objectMode: false });
}

/** Until the SSH banner comes: the published port accepts connections before sshd listens. */
async function sshdAnswers(port: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const banner = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      const done = (): void => {
        socket.destroy();
        resolve(text);
      };
      socket.setTimeout(1_000, done);
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\n')) done();
      });
      socket.on('error', done);
      socket.on('close', done);
    });
    if (banner.startsWith('SSH-2.0-')) return;
    if (Date.now() > deadline) throw new Error(`the test sshd on 127.0.0.1:${port} did not answer within ${ms / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
