/**
 * What agents that died left on the engine: containers and networks whose owner label names an
 * agent process of this machine that is gone (killed, out of memory, the machine rebooted). Every
 * command that starts jobs reclaims them first; `deckhand clean` does it on demand; a long-lived
 * process (the Nomad driver plugin) does it from time to time. What a live agent owns, what
 * another machine's agent owns, and what Deckhand did not make (no owner label) is never touched.
 */
import type Docker from 'dockerode';
import { ownerState, parseOwner, type AgentOwner } from '../../owner.js';
import { JOB_LABEL, OWNER_LABEL, ROLE_LABEL } from './labels.js';
import { removeContainers, removeNetworks } from './leftovers.js';

export interface Orphan {
  kind: 'container' | 'network';
  id: string;
  name: string;
  /** the job it was made for, when it says */
  job?: string;
  owner: AgentOwner;
}

/** Finds, and unless `dryRun` removes, what belongs to owners that are gone; one line per thing in `said`. */
export async function reclaimOrphans(docker: Docker, options: { dryRun?: boolean; said?: (line: string) => void } = {}): Promise<Orphan[]> {
  const filters = JSON.stringify({ label: [OWNER_LABEL] });
  const [containers, networks] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })]);
  const orphan = (labels: Record<string, string> | undefined): AgentOwner | undefined => {
    const owner = parseOwner(labels?.[OWNER_LABEL] ?? '');
    return owner && ownerState(owner) === 'gone' ? owner : undefined;
  };
  const found: (Orphan & { role?: string })[] = [];
  for (const c of containers) {
    const owner = orphan(c.Labels);
    if (!owner) continue;
    const job = c.Labels?.[JOB_LABEL];
    found.push({ kind: 'container', id: c.Id, name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''), ...(job ? { job } : {}), owner, ...(c.Labels?.[ROLE_LABEL] ? { role: c.Labels[ROLE_LABEL] } : {}) });
  }
  for (const n of networks) {
    const owner = orphan(n.Labels);
    if (!owner) continue;
    const job = n.Labels?.[JOB_LABEL];
    found.push({ kind: 'network', id: n.Id, name: n.Name, ...(job ? { job } : {}), owner });
  }
  const verb = options.dryRun ? 'would reclaim' : 'reclaimed';
  if (!options.dryRun && found.length > 0) {
    const failures = await removeContainers(
      docker,
      found.filter((o) => o.kind === 'container').map((o) => ({ id: o.id, role: o.role === 'primary' ? 'primary' : 'service' })),
    );
    // networks after the containers on them; each by its own id
    for (const n of found.filter((o) => o.kind === 'network')) failures.push(...(await removeNetworks(docker, JSON.stringify({ id: [n.id] }))));
    for (const f of failures) options.said?.(`could not reclaim ${f}`);
  }
  for (const o of found) {
    options.said?.(`${verb} ${o.kind} ${o.name}${o.job ? ` of job ${o.job}` : ''}: its agent (pid ${o.owner.pid}) is gone`);
  }
  return found.map(({ role: _role, ...o }) => o);
}
