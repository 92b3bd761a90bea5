/**
 * What Deckhand runs left on the shared Docker engine. Suites run side by side on one engine, so
 * "every container that was not there before" would count other suites' jobs that are still
 * running. Everything a run makes carries its agent's owner label: a container or network whose
 * owner has ended is a leftover; one whose owner runs is work in progress. VM tests that drive a
 * provider directly label their VMs with a scope of their own, and are left out.
 */
import { execFileSync } from 'node:child_process';
import { OWNER_LABEL } from '../../agent/executor/docker/labels.js';
import { ownerState, parseOwner } from '../../agent/owner.js';
import { VM_SCOPE_LABEL } from '../../agent/vm/docker-vm-spec.js';

interface Labelled {
  id: string;
  ownerPid: number | undefined;
  ownerGone: boolean;
}

function list(args: string[], filter: string): Labelled[] {
  return execFileSync('docker', [...args, '--filter', filter, '--format', `{{.ID}} {{.Label "${OWNER_LABEL}"}} {{.Label "${VM_SCOPE_LABEL}"}}`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((row) => row.split(' '))
    .filter(([, , scope]) => !scope)
    .map(([id = '', owner = '']) => {
      const parsed = parseOwner(owner);
      return { id, ownerPid: parsed?.pid, ownerGone: parsed !== undefined && ownerState(parsed) === 'gone' };
    });
}

/** Job containers, job networks and unscoped VMs, with their owners. */
function deckhandObjects(): Labelled[] {
  return [...list(['ps', '-a'], 'label=com.deckhand.job'), ...list(['network', 'ls'], 'label=com.deckhand.job'), ...list(['ps', '-a'], 'label=com.deckhand.vm=1')];
}

/** Ids of what runs that have ended left behind. */
export function leftByEndedRuns(): string[] {
  return deckhandObjects()
    .filter((o) => o.ownerGone)
    .map((o) => o.id);
}

/** Running containers (job containers or VMs) that process `pid` owns. */
export function containersOwnedBy(pid: number | undefined, filter = 'label=com.deckhand.job'): string[] {
  return list(['ps'], filter)
    .filter((o) => o.ownerPid === pid)
    .map((o) => o.id);
}

/** Containers (running or not) and networks that process `pid` owns. */
export function ownedBy(pid: number | undefined): string[] {
  return [...list(['ps', '-a'], 'label=com.deckhand.owner'), ...list(['network', 'ls'], 'label=com.deckhand.owner')]
    .filter((o) => pid !== undefined && o.ownerPid === pid)
    .map((o) => o.id);
}

/**
 * Leftovers of ended runs that were not there at `before`. A suite that kills agents on purpose
 * leaves its containers until it reclaims them; what stays for `waitMs` is reported.
 */
export function newLeftovers(before: Iterable<string>, waitMs = 20_000): string[] {
  const known = new Set(before);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const left = leftByEndedRuns().filter((id) => !known.has(id));
    if (left.length === 0 || Date.now() > deadline) return left;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
}
