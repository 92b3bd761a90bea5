/**
 * The Executor contract against the machine executor over SSH, on a real sshd (a container of
 * deckhand-test/sshd:bookworm, test/support/sshd-container.ts). It logs in as root there, as a
 * container's commands run by default; the `circleci` login of real VMs is machine-user.test.ts's.
 * What may be left after teardown: processes on the VM other than sshd itself.
 */
import { after, before, describe } from 'node:test';
import { MachineExecutor } from '../../../agent/executor/machine/machine-executor.js';
import { startSshd, type SshdContainer } from '../../support/sshd-container.js';
import { executorContract } from '../executor-contract.js';

describe('MachineExecutor: the Executor contract', () => {
  let vm: SshdContainer;
  before(async () => {
    vm = await startSshd('contract');
  });
  after(async () => {
    await vm?.remove();
  });

  executorContract(({ killGraceMs }) => {
    let prepared = false;
    const executor = new MachineExecutor({ access: vm.access('root'), release: async () => undefined, killGraceMs });
    const prepare = executor.prepare.bind(executor);
    executor.prepare = (signal, startup) => {
      prepared = true;
      return prepare(signal, startup);
    };
    return {
      executor,
      // sshd's session processes go a moment after the connection closes
      leftovers: async () => (prepared ? vm.settledProcesses() : []),
      // an SSH session starts in the login user's home; sudo gives a user its own groups
      differences: { defaultDirectory: '/root', userGroupKeepsOwnGroups: true },
    };
  });
});
