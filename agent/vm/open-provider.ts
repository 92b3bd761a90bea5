/**
 * The VM provider an assignment's `runtime.machine` names (the docker one when it names none):
 * the one place a provider is registered. Each is loaded only when a job needs a VM.
 */
import type { MachineSettings } from '../assignment/assignment.js';
import type { AgentEnvironment } from '../assignment/secrets.js';
import type { Logger } from '../daemon-log.js';
import { UsageError } from '../errors.js';
import type { VmProvider, VmProviderName } from './provider.js';

/** What a provider may use of the agent, handed down by the caller (never read from the process). */
export interface VmProviderContext {
  /** the agent's environment: the engine's address, operator settings, cloud credentials */
  env: AgentEnvironment;
  /** a folder of the agent's that outlives it (the static provider's locks) */
  stateDir: string;
  log?: Logger;
}

export type VmProviderFactory = (settings: MachineSettings, ctx: VmProviderContext) => VmProvider;

/** Provider name → a loader of its factory; a provider is added with one line here. */
export type VmProviderTable = Partial<Record<VmProviderName, () => Promise<VmProviderFactory>>>;

export const VM_PROVIDERS: VmProviderTable = {
  docker: async () => (await import('./docker-provider.js')).dockerVmProviderFor,
  static: async () => (await import('./static-provider.js')).staticVmProviderFor,
  aws: async () => (await import('./aws-provider.js')).awsVmProviderFor,
};

export async function openVmProvider(settings: MachineSettings | undefined, ctx: VmProviderContext, providers: VmProviderTable = VM_PROVIDERS): Promise<VmProvider> {
  const chosen = settings ?? { provider: 'docker' };
  const load = providers[chosen.provider];
  if (!load) {
    const available = Object.keys(providers).join(', ');
    throw new UsageError(`the ${chosen.provider} machine provider is not available yet; use one of: ${available}`);
  }
  return (await load())(chosen, ctx);
}
