/**
 * The Executor contract against the chroot test double (test/support/chroot-executor.ts): no
 * Docker engine, but root and busybox-static. After teardown neither its folder nor any process
 * in it may remain.
 */
import { existsSync } from 'node:fs';
import { describe } from 'node:test';
import { ChrootExecutor, processesRootedAt } from '../support/chroot-executor.js';
import { executorContract } from './executor-contract.js';

describe('ChrootExecutor: the Executor contract', () => {
  executorContract(({ killGraceMs }) => {
    const executor = new ChrootExecutor({ killGraceMs });
    return {
      executor,
      async leftovers() {
        const root = executor.root;
        if (!root) return [];
        const processes = await processesRootedAt(root);
        return [...(existsSync(root) ? [`folder ${root}`] : []), ...processes.map((pid) => `process ${pid} in ${root}`)];
      },
    };
  });
});
