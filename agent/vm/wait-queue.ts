/**
 * The jobs waiting for a host of one static pool, in the order they came: a ticket file each in a
 * folder beside the hosts' locks, named so that names sort by arrival. A waiting job tries for a
 * host only while fewer jobs wait ahead of it than hosts are free, so hosts go to jobs in order
 * across every agent on the machine, rather than to whichever looks first after a release.
 * Tickets of agents whose process is gone are removed by the next job that counts them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { processStartOf } from '../owner.js';
import { ownerIsGone, type LockOwner } from './host-lock.js';

export interface WaitTicket {
  /** how many live jobs wait ahead of this one */
  ahead(): Promise<number>;
  /** leaves the queue (the job got a host, gave up or was cancelled); idempotent */
  leave(): Promise<void>;
}

export async function joinQueue(dir: string, who: { jobId: string; runId: string }): Promise<WaitTicket> {
  await mkdir(dir, { recursive: true });
  const token = randomBytes(8).toString('hex');
  const owner: LockOwner = { jobId: who.jobId, runId: who.runId, pid: process.pid, machine: hostname(), since: Date.now(), token };
  const start = processStartOf(process.pid);
  if (start !== undefined) owner.processStart = start;
  // arrival time first (fixed width, so names sort by it), then the token
  const name = `${String(owner.since).padStart(15, '0')}-${token}.json`;
  const file = path.join(dir, name);
  await writeFile(file, `${JSON.stringify(owner)}\n`);
  let left: Promise<void> | undefined;
  return {
    async ahead() {
      const earlier = (await readdir(dir)).filter((n) => n.endsWith('.json') && n < name);
      let live = 0;
      for (const other of earlier) {
        const holder = await readTicket(path.join(dir, other));
        if (holder && ownerIsGone(holder)) await rm(path.join(dir, other), { force: true });
        else if (holder) live++;
      }
      return live;
    },
    leave: () => (left ??= rm(file, { force: true })),
  };
}

async function readTicket(file: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockOwner;
  } catch {
    // gone meanwhile (its job got a host), or being written
    return undefined;
  }
}
