// A real image registry for tests: CNCF distribution's `registry` on a free loopback port
// (scripts/ensure-registry-binary.sh builds it), open or behind htpasswd, and the pushes, tag
// removals and lookups the pull tests do around it. A missing binary fails the tests that use it.

import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { RegistryAuth } from '../../agent/executor/docker/container-spec.js';
import { readAll } from '../executor/docker/engine-fixture.js';
import { freePort } from './free-port.js';

const REGISTRY_BIN =
  process.env.DECKHAND_REGISTRY_BIN ?? path.join(process.env.DECKHAND_IMAGE_CACHE ?? '/var/cache/deckhand-images', 'bin', 'registry');

export interface Registry {
  /** `127.0.0.1:PORT`, the prefix of image names in it. */
  host: string;
  stop(): Promise<void>;
}


/** Starts a registry on 127.0.0.1 only, storing under a temporary directory. */
export async function startRegistry(htpasswd?: string): Promise<Registry> {
  await access(REGISTRY_BIN, constants.X_OK).catch(() => {
    throw new Error(`the test registry ${REGISTRY_BIN} is missing; run scripts/ensure-registry-binary.sh (or make test-deps)`);
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'deckhand-registry-'));
  const port = await freePort();
  const auth = htpasswd ? `auth:\n  htpasswd:\n    realm: deckhand-test\n    path: ${path.join(dir, 'htpasswd')}\n` : '';
  if (htpasswd) await writeFile(path.join(dir, 'htpasswd'), htpasswd);
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    auth,
  ].join('\n');
  await writeFile(path.join(dir, 'config.yml'), config);
  // No tracing exporter: nothing should try to send anything anywhere.
  const child = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
  });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (log.length < 20_000) log += chunk.toString('utf8');
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`the test registry exited at start: ${log.trim()}`);
    }
    const status = await fetch(`http://${host}/v2/`).then((response) => response.status, () => 0);
    // 401 is the guarded registry's answer without credentials: it is up.
    if (status === 200 || status === 401) return { host, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the test registry did not answer on ${host} within 15 s: ${log.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Reads an engine progress stream to its end; its `error` messages become a thrown Error. */
async function finishProgress(stream: NodeJS.ReadableStream, what: string): Promise<void> {
  const text = (await readAll(stream as unknown as Readable)).toString('utf8');
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const message = JSON.parse(line) as { error?: string };
    if (message.error) throw new Error(`${what}: ${message.error}`);
  }
}

export async function push(docker: Docker, name: string, auth?: RegistryAuth): Promise<void> {
  const [repo, tag] = splitTag(name);
  const stream = (await docker.getImage(repo).push({ tag, ...(auth ? { authconfig: { ...auth } } : { authconfig: {} }) })) as NodeJS.ReadableStream;
  await finishProgress(stream, `push ${name}`);
}

export function splitTag(name: string): [string, string] {
  const at = name.lastIndexOf(':');
  return [name.slice(0, at), name.slice(at + 1)];
}

/** Removes a local tag (and the image, when it was the last one); absent is fine. */
export async function untag(docker: Docker, name: string): Promise<void> {
  await docker
    .getImage(name)
    .remove()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
}

export async function present(docker: Docker, name: string): Promise<boolean> {
  return docker
    .getImage(name)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

