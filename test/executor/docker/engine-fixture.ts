// Shared by the Docker executor tests: the real engine, the locally built
// test images (scripts/build-test-images.sh), and small readers of results.
// A missing engine or image fails the tests; it never skips them.

import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { connectDocker } from '../../../agent/executor/docker/engine.js';
import { JOB_LABEL } from '../../../agent/executor/docker/labels.js';
import type { ExecResult, RunningExec } from '../../../agent/executor/executor.js';

export const BUSYBOX = 'deckhand-test/busybox:latest';
export const DEBIAN = 'deckhand-test/debian:bookworm';
export const DEBIAN_ENTRYPOINT = 'deckhand-test/debian-entrypoint:bookworm';
/** Has an ENTRYPOINT but not the preserve-entrypoint label. */
export const BUSYBOX_ENTRYPOINT = 'deckhand-test/busybox-entrypoint:latest';

/** Connects and checks that the engine answers and the images exist. */
export async function realEngine(): Promise<Docker> {
  const docker = connectDocker();
  try {
    await docker.ping();
  } catch (error) {
    throw new Error(`these tests need a running Docker engine (run scripts/ensure-docker.sh): ${String(error)}`);
  }
  for (const image of [BUSYBOX, DEBIAN, DEBIAN_ENTRYPOINT, BUSYBOX_ENTRYPOINT]) {
    await docker.getImage(image).inspect().catch(() => {
      throw new Error(`test image ${image} is missing; run scripts/build-test-images.sh`);
    });
  }
  return docker;
}

/** A job id no other test uses, so label queries see only this test's work. */
export function uniqueJobId(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

export interface Collected extends ExecResult {
  stdout: string;
  stderr: string;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Reads both streams to their end, then the exit. */
export async function collect(run: RunningExec): Promise<Collected> {
  const [stdout, stderr] = await Promise.all([readAll(run.stdout), readAll(run.stderr)]);
  const result = await run.exit;
  return { ...result, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8') };
}

/** Containers and networks that still carry the job's label. */
export async function leftovers(docker: Docker, jobId: string): Promise<string[]> {
  const filters = JSON.stringify({ label: [`${JOB_LABEL}=${jobId}`] });
  const containers = await docker.listContainers({ all: true, filters });
  const networks = await docker.listNetworks({ filters });
  return [...containers.map((c) => `container ${c.Names.join(',')}`), ...networks.map((n) => `network ${n.Name}`)];
}
