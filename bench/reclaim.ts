/**
 * Reclaiming what dead agents left, against the engine's own floor in the same run:
 *  (a) 50 leaked containers of a dead owner: `reclaimOrphans` (list, judge owners, remove) against
 *      removing the same number of containers by id through the Engine API — target: under 5 s;
 *  (b) the first `deckhand execute` after a crash (one job's containers and network left by a
 *      dead owner, reclaimed while the job starts) against one after a clean exit (nothing left) —
 *      target: no more than 300 ms later. Alternated; medians.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { JOB_LABEL, OWNER_LABEL, ROLE_LABEL } from '../agent/executor/docker/labels.js';
import { reclaimOrphans } from '../agent/executor/docker/reclaim.js';
import { formatOwner, thisAgent } from '../agent/owner.js';
import { middle, repo } from './support.js';

const IMAGE = 'deckhand-test/busybox:latest';
const docker = new Docker();
const bin = join(repo, 'bin', 'deckhand.js');

/** An owner of this machine whose process is gone. */
const dead = (): string => formatOwner({ ...thisAgent(), pid: 4_000_000 + Math.floor(Math.random() * 100_000), start: '1' });

async function leak(count: number, network?: string): Promise<string[]> {
  const owner = dead();
  const made = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const c = await docker.createContainer({ Image: IMAGE, Cmd: ['sleep', '600'], Labels: { [JOB_LABEL]: 'bench-reclaim', [OWNER_LABEL]: owner, [ROLE_LABEL]: i === 0 ? 'primary' : 'service' }, HostConfig: network ? { NetworkMode: network } : {} });
      await c.start();
      return c.id;
    }),
  );
  return made;
}

async function main(): Promise<void> {
  // (a)
  const floors: number[] = [];
  const reclaims: number[] = [];
  for (let round = 0; round < 3; round++) {
    const ids = await leak(50);
    let t = Date.now();
    await Promise.all(ids.map((id) => docker.getContainer(id).remove({ force: true, v: true })));
    floors.push(Date.now() - t);
    await leak(50);
    t = Date.now();
    const found = await reclaimOrphans(docker);
    reclaims.push(Date.now() - t);
    if (found.length < 50) throw new Error(`reclaimed ${found.length} of 50`);
  }
  console.log(JSON.stringify({ bench: 'reclaim-50', rounds: 3, floorRemoveByIdMs: middle(floors), reclaimMs: middle(reclaims), ratio: +(middle(reclaims) / middle(floors)).toFixed(2), loadAverage: loadavg().map((l) => +l.toFixed(2)), target: 'reclaim < 5000 ms' }));

  // (b)
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-reclaim-'));
  mkdirSync(join(dir, '.circleci'));
  writeFileSync(join(dir, '.circleci', 'config.yml'), `version: 2.1\njobs:\n  build:\n    docker: [{image: ${IMAGE}}]\n    steps:\n      - run: "true"\n`);
  const run = (): number => {
    const t = Date.now();
    const r = spawnSync(process.execPath, [bin, 'execute', '--no-color', '--log-file', join(dir, 'job.log')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DECKHAND_HOME: join(dir, '.home') } });
    if (r.status !== 0) throw new Error(`execute failed: ${r.stderr.toString().slice(-300)}`);
    return Date.now() - t;
  };
  run();
  const clean: number[] = [];
  const afterCrash: number[] = [];
  for (let i = 0; i < 7; i++) {
    clean.push(run());
    const network = await docker.createNetwork({ Name: `bench-reclaim-${i}-${Date.now()}`, Labels: { [JOB_LABEL]: 'bench-reclaim', [OWNER_LABEL]: dead() } });
    await leak(2, network.id);
    afterCrash.push(run());
  }
  console.log(JSON.stringify({ bench: 'first-job-after-crash', runs: 7, afterCleanExitMs: middle(clean), afterCrashMs: middle(afterCrash), laterMs: middle(afterCrash) - middle(clean), loadAverage: loadavg().map((l) => +l.toFixed(2)), target: '<= 300 ms later' }));
  await reclaimOrphans(docker);
}

await main();
