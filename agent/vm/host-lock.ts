/**
 * One job at a time on a static host, across agents on this machine and across an agent's crash:
 * a lock is a folder holding its owner (job, run, agent process), made complete under a temporary
 * name and then renamed into place. rename(2) of a folder onto a non-empty one fails, so exactly
 * one agent gets it, and no reader ever sees a lock without its owner.
 *
 * A lock whose owner process is gone (on this machine) is taken over. A lock of another machine
 * (a shared state folder) cannot be judged; it stays until its job releases it or a reap.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { ownerState, processStartOf } from '../owner.js';

export interface LockOwner {
  jobId: string;
  runId: string;
  /** the agent process that holds it, and when that process started (tells a reused pid apart) */
  pid: number;
  processStart?: string;
  machine: string;
  /** epoch ms */
  since: number;
  /** this holding of the lock: a release or takeover touches only the holding it saw */
  token: string;
}

export interface HeldLock {
  dir: string;
  owner: LockOwner;
}

export type LockAttempt = { lock: HeldLock; tookOverFrom?: LockOwner } | { heldBy: LockOwner | undefined };

const OWNER_FILE = 'owner.json';

export async function tryLock(dir: string, who: { jobId: string; runId: string }): Promise<LockAttempt> {
  const token = randomBytes(8).toString('hex');
  const owner: LockOwner = { jobId: who.jobId, runId: who.runId, pid: process.pid, machine: hostname(), since: Date.now(), token };
  const start = processStartOf(process.pid);
  if (start !== undefined) owner.processStart = start;
  await mkdir(path.dirname(dir), { recursive: true });
  const ready = `${dir}.new-${token}`;
  await mkdir(ready);
  try {
    await writeFile(path.join(ready, OWNER_FILE), `${JSON.stringify(owner)}\n`);
    if (await renamedInto(ready, dir)) return { lock: { dir, owner } };
    const holder = await readOwner(dir);
    if (!holder || !ownerIsGone(holder)) return { heldBy: holder };
    if (!(await removeHolding(dir, holder))) return { heldBy: await readOwner(dir) };
    if (await renamedInto(ready, dir)) return { lock: { dir, owner }, tookOverFrom: holder };
    return { heldBy: await readOwner(dir) };
  } finally {
    await rm(ready, { recursive: true, force: true });
  }
}

/** Gives the lock up, unless it is no longer this holding's (taken over, or reaped). */
export async function unlock(lock: HeldLock): Promise<void> {
  await removeHolding(lock.dir, lock.owner);
}

/** Removes a lock whatever its owner (a reap). */
export async function breakLock(dir: string): Promise<void> {
  const owner = await readOwner(dir);
  if (owner) await removeHolding(dir, owner);
  else await rm(dir, { recursive: true, force: true });
}

export async function readOwner(dir: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, OWNER_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/** True only when the owner ran on this machine and its process is gone (or its pid was reused). */
export function ownerIsGone(owner: LockOwner): boolean {
  return ownerState({ machine: owner.machine, boot: '', pid: owner.pid, start: owner.processStart ?? '' }) === 'gone';
}

/**
 * Takes the lock away from one holding: moved aside first (atomic), then checked to be that
 * holding, then deleted. If it was another's by then (a race with another takeover), it is put back.
 */
async function removeHolding(dir: string, owner: LockOwner): Promise<boolean> {
  const aside = `${dir}.old-${randomBytes(8).toString('hex')}`;
  try {
    await rename(dir, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const moved = await readOwner(aside);
  if (moved?.token !== owner.token) {
    await renamedInto(aside, dir);
    return false;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}

/** rename(2), false when the target is a lock already (a non-empty folder). */
async function renamedInto(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
}
