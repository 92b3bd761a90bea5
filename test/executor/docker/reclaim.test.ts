/**
 * Reclaiming what agents that died left on the engine, against the real engine: containers and
 * networks of a dead owner go (services before primaries, then networks); what a live agent owns,
 * what another machine's agent owns and what carries no owner label stay; a dry run removes
 * nothing; `deckhand clean` says what it did.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { JOB_LABEL, OWNER_LABEL, ROLE_LABEL } from '../../../agent/executor/docker/labels.js';
import { reclaimOrphans } from '../../../agent/executor/docker/reclaim.js';
import { formatOwner, thisAgent, type AgentOwner } from '../../../agent/owner.js';
import { deckhandBin } from '../../support/execute.js';
import { BUSYBOX, realEngine } from './engine-fixture.js';

/** An owner of this machine and boot whose process is gone: a pid no process has. */
export function deadOwner(): AgentOwner {
  return { ...thisAgent(), pid: 4_000_000 + Math.floor(Math.random() * 100_000), start: '1' };
}

/** A job's leftovers as an agent makes them: a network, a primary and a service on it. */
export async function leftJob(docker: Docker, owner: AgentOwner, tag: string): Promise<{ ids: string[]; network: string }> {
  const labels = { [JOB_LABEL]: `test-reclaim-${tag}`, [OWNER_LABEL]: formatOwner(owner) };
  const network = await docker.createNetwork({ Name: `test-reclaim-${tag}`, Labels: labels });
  const make = async (role: string) => {
    const c = await docker.createContainer({ Image: BUSYBOX, Cmd: ['sleep', '600'], Labels: { ...labels, [ROLE_LABEL]: role }, HostConfig: { NetworkMode: network.id } });
    await c.start();
    return c.id;
  };
  const primary = await make('primary');
  const service = await make('service');
  return { ids: [primary, service], network: network.id };
}

async function exists(docker: Docker, id: string, kind: 'container' | 'network'): Promise<boolean> {
  try {
    await (kind === 'container' ? docker.getContainer(id).inspect() : docker.getNetwork(id).inspect());
    return true;
  } catch {
    return false;
  }
}

describe('reclaiming what dead agents left', { concurrency: false, timeout: 120_000 }, () => {
  const made: { ids: string[]; network: string }[] = [];
  let docker: Docker;
  after(async () => {
    for (const job of made) {
      for (const id of job.ids) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
      await docker.getNetwork(job.network).remove().catch(() => undefined);
    }
  });

  test('a dead owner\'s containers and network go; a live one\'s, another machine\'s and unowned ones stay', async () => {
    docker = await realEngine();
    const tag = randomBytes(4).toString('hex');
    const dead = await leftJob(docker, deadOwner(), `dead-${tag}`);
    const alive = await leftJob(docker, thisAgent(), `alive-${tag}`);
    const elsewhere = await leftJob(docker, { ...deadOwner(), machine: 'another-machine' }, `elsewhere-${tag}`);
    const unowned = await docker.createContainer({ Image: BUSYBOX, Cmd: ['true'], Labels: { [JOB_LABEL]: `test-reclaim-unowned-${tag}` } });
    made.push(dead, alive, elsewhere, { ids: [unowned.id], network: 'none' });

    const dry = await reclaimOrphans(docker, { dryRun: true });
    const mine = (o: { id: string }) => [...dead.ids, dead.network].includes(o.id);
    assert.deepEqual(dry.filter(mine).map((o) => o.kind).sort(), ['container', 'container', 'network']);
    for (const id of dead.ids) assert.ok(await exists(docker, id, 'container'), 'a dry run removes nothing');

    const said: string[] = [];
    const reclaimed = await reclaimOrphans(docker, { said: (line) => said.push(line) });
    assert.equal(reclaimed.filter(mine).length, 3);
    for (const id of dead.ids) assert.equal(await exists(docker, id, 'container'), false);
    assert.equal(await exists(docker, dead.network, 'network'), false);
    for (const id of [...alive.ids, ...elsewhere.ids, unowned.id]) assert.ok(await exists(docker, id, 'container'), `${id.slice(0, 12)} must stay`);
    assert.ok(await exists(docker, alive.network, 'network'));
    assert.ok(said.some((l) => new RegExp(`^reclaimed container \\S+ of job test-reclaim-dead-${tag}: its agent \\(pid \\d+\\) is gone$`).test(l)), said.join('\n'));
  });

  test('deckhand clean: --dry-run lists, clean removes, and says when there is nothing', async () => {
    docker = await realEngine();
    const tag = randomBytes(4).toString('hex');
    const dead = await leftJob(docker, deadOwner(), `cli-${tag}`);
    made.push(dead);
    const clean = (...args: string[]) => spawnSync(process.execPath, [deckhandBin, 'clean', ...args], { encoding: 'utf8' });
    const dry = clean('--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`^would reclaim network test-reclaim-cli-${tag} of job test-reclaim-cli-${tag}: its agent \\(pid \\d+\\) is gone$`, 'm'));
    assert.ok(await exists(docker, dead.ids[0], 'container'));
    const real = clean();
    assert.equal(real.status, 0, real.stderr);
    assert.match(real.stdout, new RegExp(`^reclaimed container \\S+ of job test-reclaim-cli-${tag}`, 'm'));
    assert.equal(await exists(docker, dead.ids[0], 'container'), false);
  });
});
