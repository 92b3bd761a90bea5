/**
 * The `static` VM provider: hosts that exist already, listed in a pool file. A host serves one
 * job at a time (a lock under the agent's state folder), is checked before each use (a login
 * that insists on the pool's host key, and for remote Docker an engine that answers), and a job
 * waits for a free host up to a limit, in the order jobs came (wait-queue.ts). Hosts are reused
 * as they are: nothing is reset between jobs.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../daemon-log.js';
import type { MachineSettings } from '../assignment/assignment.js';
import { DeckhandError, InfrastructureError, UsageError, errorMessage } from '../errors.js';
import { formatDuration } from '../output/terminal.js';
import { breakLock, ownerIsGone, readOwner, tryLock, unlock, type LockOwner } from './host-lock.js';
import type { VmProviderContext } from './open-provider.js';
import type { Vm, VmProvider, VmRecord, VmRequest } from './provider.js';
import { joinQueue, type WaitTicket } from './wait-queue.js';
import { login, runCommand, SshLoginError } from './ssh-login.js';
import { readPool, type PoolHost } from './static-pool.js';

export interface StaticVmProviderOptions {
  poolFile: string;
  /** the agent's state folder: the locks live in its `static-pool/` */
  stateDir: string;
  /** how long a job waits for a free host (default 10 minutes) */
  waitMs?: number;
  /** how often a waiting job looks again (default 1 s) */
  pollMs?: number;
  /** the check's login (default 15 s) */
  checkTimeoutMs?: number;
  log?: Logger;
}

export const DEFAULT_POOL_WAIT_MS = 10 * 60_000;

export class StaticVmProvider implements VmProvider {
  readonly name = 'static' as const;

  constructor(private readonly options: StaticVmProviderOptions) {}

  async acquire(request: VmRequest): Promise<Vm> {
    const waitMs = this.options.waitMs ?? DEFAULT_POOL_WAIT_MS;
    const deadline = Date.now() + waitMs;
    // hosts that failed their check: not tried again by this job
    const refused = new Map<string, string>();
    const ticket = await joinQueue(this.queueDir(), request.owner);
    try {
      return await this.acquireInTurn(request, ticket, refused, deadline, waitMs);
    } finally {
      await ticket.leave();
    }
  }

  private async acquireInTurn(request: VmRequest, ticket: WaitTicket, refused: Map<string, string>, deadline: number, waitMs: number): Promise<Vm> {
    for (;;) {
      request.signal?.throwIfAborted();
      const pool = await readPool(this.options.poolFile);
      const busy: Array<{ host: PoolHost; holder: LockOwner | undefined }> = [];
      // jobs that came earlier take the free hosts first: this one tries only for a host that is
      // left once each of them has one
      const ahead = await ticket.ahead();
      const myTurn = ahead === 0 || ahead < (await this.freeHosts(pool.hosts, refused, busy));
      if (myTurn) busy.length = 0;
      for (const host of myTurn ? pool.hosts : []) {
        if (refused.has(host.name)) continue;
        const attempt = await tryLock(this.lockDir(host), request.owner);
        if ('heldBy' in attempt) {
          busy.push({ host, holder: attempt.heldBy });
          continue;
        }
        const notes: string[] = [];
        if (attempt.tookOverFrom) {
          const was = attempt.tookOverFrom;
          const line = `machine pool host ${host.name} was locked by job ${was.jobId} (run ${was.runId}), whose agent (pid ${was.pid}) is gone; taking it over`;
          this.options.log?.log('warn', line);
          notes.push(line);
        }
        const problem = await this.check(host, request);
        if (problem === undefined) {
          const lock = attempt.lock;
          let released: Promise<void> | undefined;
          return {
            id: host.name,
            access: { host: host.address, port: host.port, user: host.user, privateKey: host.privateKey, hostKey: host.hostKey },
            ...(notes.length ? { notes } : {}),
            release: () => (released ??= unlock(lock)),
          };
        }
        await unlock(attempt.lock);
        refused.set(host.name, problem);
        this.options.log?.log('warn', `machine pool ${pool.file}: ${problem}`);
      }
      if (refused.size === pool.hosts.length) {
        throw new InfrastructureError(`machine pool ${pool.file} has no usable host: ${[...refused.values()].join('; ')}`);
      }
      const now = Date.now();
      if (now >= deadline) throw new InfrastructureError(this.timeoutMessage(pool.file, pool.hosts.length, busy, refused, waitMs, ahead));
      try {
        await sleep(Math.min(this.options.pollMs ?? 1000, deadline - now), undefined, request.signal ? { signal: request.signal } : {});
      } catch (error) {
        if (request.signal?.aborted) throw request.signal.reason;
        throw error;
      }
    }
  }

  async list(): Promise<VmRecord[]> {
    const pool = await readPool(this.options.poolFile);
    const records: VmRecord[] = [];
    for (const host of pool.hosts) {
      const owner = await readOwner(this.lockDir(host));
      if (owner) records.push({ id: host.name, owner: { jobId: owner.jobId, runId: owner.runId }, since: owner.since });
    }
    return records;
  }

  /** Unlocks hosts held longer than `olderThanMs` (what is running on them is left alone). */
  async reap(olderThanMs: number): Promise<string[]> {
    const pool = await readPool(this.options.poolFile);
    const cutoff = Date.now() - olderThanMs;
    const reaped: string[] = [];
    for (const host of pool.hosts) {
      const dir = this.lockDir(host);
      const owner = await readOwner(dir);
      if (owner && owner.since <= cutoff) {
        await breakLock(dir);
        reaped.push(host.name);
      }
    }
    return reaped;
  }

  /** Why the host cannot take this job (one line), or undefined when it can. */
  private async check(host: PoolHost, request: VmRequest): Promise<string | undefined> {
    const where = `host ${host.name}`;
    try {
      const client = await login({ host: host.address, port: host.port, user: host.user, privateKey: host.privateKey, hostKey: host.hostKey }, this.options.checkTimeoutMs ?? 15_000);
      try {
        if (request.purpose === 'remote-docker') {
          const result = await runCommand(client, 'docker info >/dev/null');
          if (result.code !== 0) return `${where} runs no Docker engine its user ${host.user} can reach (docker info: ${result.stderr.trim().split('\n').at(-1) ?? `exit ${result.code}`}); it cannot serve setup_remote_docker`;
        }
      } finally {
        client.end();
      }
      return undefined;
    } catch (error) {
      if (error instanceof SshLoginError && error.reason === 'host-key') return `${where}: ${error.message}; if the host was rebuilt, put its new key in the pool file`;
      if (error instanceof SshLoginError && error.reason === 'auth') return `${where}: ${error.message} (${host.privateKeyFile})`;
      if (error instanceof DeckhandError) throw error;
      return `${where}: ${errorMessage(error)}`;
    }
  }

  /** Hosts not locked by a live job (not counting those refused); the locked ones go into `busy`. */
  private async freeHosts(hosts: PoolHost[], refused: Map<string, string>, busy: Array<{ host: PoolHost; holder: LockOwner | undefined }>): Promise<number> {
    let free = 0;
    for (const host of hosts) {
      if (refused.has(host.name)) continue;
      const holder = await readOwner(this.lockDir(host));
      if (holder === undefined || ownerIsGone(holder)) free++;
      else busy.push({ host, holder });
    }
    return free;
  }

  private timeoutMessage(file: string, total: number, busy: Array<{ host: PoolHost; holder: LockOwner | undefined }>, refused: Map<string, string>, waitMs: number, ahead: number): string {
    const holders = busy.map(({ host, holder }) => (holder ? `${host.name}: job ${holder.jobId} since ${new Date(holder.since).toISOString()}` : host.name)).join(', ');
    const refusedPart = refused.size ? `; ${refused.size} refused (${[...refused.keys()].join(', ')})` : '';
    const aheadPart = ahead > 0 ? `; ${ahead} job${ahead === 1 ? '' : 's'} waiting ahead of this one` : '';
    return `no free host in machine pool ${file} after ${formatDuration(waitMs)}: ${busy.length} of ${total} busy (${holders})${refusedPart}${aheadPart}; add hosts to the pool or let jobs wait longer`;
  }

  /** One queue per pool file. */
  private queueDir(): string {
    const name = path.resolve(this.options.poolFile).replace(/[^A-Za-z0-9._-]/g, '_');
    return path.join(this.options.stateDir, 'static-pool', 'waiting', name);
  }

  /** By address and port, not name: two pool files naming one host share its lock. */
  private lockDir(host: PoolHost): string {
    return path.join(this.options.stateDir, 'static-pool', `${host.address}_${host.port}`.replace(/[^A-Za-z0-9._-]/g, '_'));
  }
}

/**
 * The provider for `runtime.machine.provider: static`. DECKHAND_MACHINE_POOL_WAIT_SECONDS (an
 * operator setting of the agent's environment) sets how long a job waits for a free host.
 */
export function staticVmProviderFor(settings: MachineSettings, ctx: VmProviderContext): StaticVmProvider {
  if (!settings.poolFile) throw new UsageError('the static machine provider needs a pool file (--machine-pool FILE, or runtime.machine.poolFile); docs/machine.md shows its format');
  const options: StaticVmProviderOptions = { poolFile: settings.poolFile, stateDir: ctx.stateDir };
  const wait = ctx.env.DECKHAND_MACHINE_POOL_WAIT_SECONDS;
  if (wait !== undefined && wait !== '') {
    const seconds = Number(wait);
    if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`DECKHAND_MACHINE_POOL_WAIT_SECONDS must be a number of seconds, not "${wait}"`);
    options.waitMs = seconds * 1000;
  }
  if (ctx.log) options.log = ctx.log;
  return new StaticVmProvider(options);
}
