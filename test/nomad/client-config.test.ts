// deckhand nomad client-config: reserved CPU in this machine's MHz, server addresses on 4647,
// the plugin block, and TLS only with all three files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLIENT_DEFAULTS, clientConfigHcl, clientConfigJson, serverAddress } from '../../agent/nomad/client-config.js';

const options = { ...CLIENT_DEFAULTS, servers: ['10.0.0.1'], mhzPerCore: 2400 };

describe('deckhand nomad client-config', () => {
  it('puts servers on Nomad\'s RPC port unless one is given', () => {
    assert.equal(serverAddress('10.0.0.1'), '10.0.0.1:4647');
    assert.equal(serverAddress('nomad.internal:4747'), 'nomad.internal:4747');
    assert.equal(serverAddress('fd00::1'), '[fd00::1]:4647');
    assert.equal(serverAddress('[fd00::1]:9'), '[fd00::1]:9');
  });

  it('reserves 2 cores in this machine\'s MHz and 4096 MB', () => {
    const json = clientConfigJson(options) as { client: { reserved: unknown; min_dynamic_port: number; max_dynamic_port: number } };
    assert.deepEqual(json.client.reserved, { cpu: 4800, memory: 4096 });
    assert.equal(json.client.min_dynamic_port, 64535);
    assert.equal(json.client.max_dynamic_port, 65535);
    assert.match(clientConfigHcl(options), /# 2 CPU cores \(× 2400 MHz per core on this machine\)/);
  });

  it('has the plugin block and drain_on_shutdown with the leave_on_* it needs', () => {
    const hcl = clientConfigHcl(options);
    assert.match(hcl, /plugin "deckhand" \{\n {2}config \{/);
    assert.match(hcl, /drain_on_shutdown \{/);
    assert.match(hcl, /leave_on_terminate = true/);
    assert.doesNotMatch(hcl, /tls \{/);
    assert.match(clientConfigHcl({ ...options, tls: { ca: '/ca.pem', cert: '/c.pem', key: '/k.pem' } }), /tls \{[^}]*ca_file += "\/ca.pem"/);
  });

  it('refuses no servers and a machine whose speed is unknown', () => {
    assert.throws(() => clientConfigHcl({ ...options, servers: [] }), /--servers is required/);
    assert.throws(() => clientConfigHcl({ ...options, mhzPerCore: 0 }), /--mhz-per-core/);
  });
});
