/** Which handler runs which step type: the one place a new step type is registered. */
import type { Step } from '../jobspec/jobspec.js';
import { addSshKeysStep } from './add-ssh-keys.js';
import { attachWorkspaceStep } from './attach-workspace.js';
import { checkoutStep } from './checkout.js';
import { persistToWorkspaceStep } from './persist-to-workspace.js';
import { restoreCacheStep } from './restore-cache.js';
import { runStep } from './run.js';
import { saveCacheStep } from './save-cache.js';
import { setupRemoteDockerStep } from './setup-remote-docker.js';
import type { StepHandler } from './step.js';
import { storeArtifactsStep } from './store-artifacts.js';
import { storeTestResultsStep } from './store-test-results.js';

const handlers: { [T in Step['type']]: StepHandler<Extract<Step, { type: T }>> } = {
  run: runStep,
  checkout: checkoutStep,
  add_ssh_keys: addSshKeysStep,
  setup_remote_docker: setupRemoteDockerStep,
  save_cache: saveCacheStep,
  restore_cache: restoreCacheStep,
  store_artifacts: storeArtifactsStep,
  store_test_results: storeTestResultsStep,
  persist_to_workspace: persistToWorkspaceStep,
  attach_workspace: attachWorkspaceStep,
};

export function handlerFor(step: Step): StepHandler {
  return handlers[step.type] as StepHandler;
}
