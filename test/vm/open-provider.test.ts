/** Which provider a job's machine settings open, and the refusals that come before any VM. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../agent/errors.js';
import { DockerVmProvider } from '../../agent/vm/docker-provider.js';
import { openVmProvider, VM_PROVIDERS, type VmProviderFactory } from '../../agent/vm/open-provider.js';
import type { VmProvider } from '../../agent/vm/provider.js';
import { StaticVmProvider } from '../../agent/vm/static-provider.js';

const ctx = { env: {}, stateDir: '/nonexistent/state' };

describe('openVmProvider', () => {
  it('opens the docker provider when the assignment names none', async () => {
    assert.ok((await openVmProvider(undefined, ctx)) instanceof DockerVmProvider);
    assert.ok((await openVmProvider({ provider: 'docker' }, ctx)) instanceof DockerVmProvider);
  });

  it('opens the static provider with its pool file, and refuses it without one', async () => {
    assert.ok((await openVmProvider({ provider: 'static', poolFile: '/etc/deckhand/pool.yml' }, ctx)) instanceof StaticVmProvider);
    await assert.rejects(openVmProvider({ provider: 'static' }, ctx), (error: unknown) => error instanceof UsageError && /needs a pool file/.test(error.message));
    await assert.rejects(
      openVmProvider({ provider: 'static', poolFile: '/p.yml' }, { ...ctx, env: { DECKHAND_MACHINE_POOL_WAIT_SECONDS: 'soon' } }),
      /DECKHAND_MACHINE_POOL_WAIT_SECONDS must be a number of seconds, not "soon"/,
    );
  });

  it('aws needs its settings; a provider missing from the table is refused as not available; the table decides', async () => {
    await assert.rejects(openVmProvider({ provider: 'aws' }, ctx), (error: unknown) => error instanceof UsageError && /the aws machine provider needs its settings/.test(error.message));
    const { aws: _aws, ...withoutAws } = VM_PROVIDERS;
    await assert.rejects(openVmProvider({ provider: 'aws' }, ctx, withoutAws), (error: unknown) => error instanceof UsageError && /the aws machine provider is not available yet; use one of: docker, static/.test(error.message));
    const stand: VmProvider = { name: 'aws', acquire: () => Promise.reject(new Error('unused')), list: async () => [], reap: async () => [] };
    const factory: VmProviderFactory = () => stand;
    assert.equal(await openVmProvider({ provider: 'aws' }, ctx, { ...VM_PROVIDERS, aws: async () => factory }), stand);
  });
});
