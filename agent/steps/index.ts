/** Which handler runs which step type: the one place a new step type is registered. */
import type { Step } from '../jobspec/jobspec.js';
import { addSshKeysStep } from './add-ssh-keys.js';
import { checkoutStep } from './checkout.js';
import { runStep } from './run.js';
import type { StepHandler } from './step.js';
import { notYetSupported } from './unsupported.js';

const handlers: { [T in Step['type']]: StepHandler<Extract<Step, { type: T }>> } = {
  run: runStep,
  checkout: checkoutStep,
  add_ssh_keys: addSshKeysStep,
  setup_remote_docker: notYetSupported,
  save_cache: notYetSupported,
  restore_cache: notYetSupported,
  store_artifacts: notYetSupported,
  store_test_results: notYetSupported,
  persist_to_workspace: notYetSupported,
  attach_workspace: notYetSupported,
};

export function handlerFor(step: Step): StepHandler {
  return handlers[step.type] as StepHandler;
}
