// The plugin's config and task config as Nomad sends them (go-cty msgpack: a map of every
// attribute, absent ones nil), and the one-line refusals. The Go harness encodes them with go-cty
// itself; these pin the decoding rules.
import assert from 'node:assert/strict';
import { encode } from '@msgpack/msgpack';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_PLUGIN_CONFIG, decodePluginConfig } from '../../nomad-plugin/src/base/plugin-config.js';
import { decodeTaskConfig } from '../../nomad-plugin/src/driver/task-config.js';
import { handshakeLine, NOT_BY_HAND, offeredVersionProblem, startedByNomad } from '../../nomad-plugin/src/go-plugin/cookie.js';
import { decodeDriverState, encodeDriverState, exitOf } from '../../nomad-plugin/src/driver/agent-process.js';
import { signalName } from '../../nomad-plugin/src/driver/task.js';

const cty = (o: Record<string, unknown>) => encode(Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b))));

describe('plugin config', () => {
  it('decodes every attribute, nil ones to their defaults', () => {
    const c = decodePluginConfig(cty({ deckhand: '/usr/local/bin/deckhand', docker_endpoint: 'unix:///run/docker.sock', store: null, output_processor: null, output_secret_file: null, output_url: null, reserved_cpu_cores: 2, reserved_memory_mb: 4096 }));
    assert.deepEqual(c, { ...DEFAULT_PLUGIN_CONFIG, deckhand: '/usr/local/bin/deckhand', dockerEndpoint: 'unix:///run/docker.sock' });
    assert.deepEqual(decodePluginConfig(new Uint8Array()), DEFAULT_PLUGIN_CONFIG);
  });

  it('refuses what Nomad\'s types let through but the plugin cannot use', () => {
    assert.throws(() => decodePluginConfig(cty({ reserved_cpu_cores: 1.5 })), (e: Error) => e instanceof ConfigError && /reserved_cpu_cores is 1.5/.test(e.message));
    assert.throws(() => decodePluginConfig(cty({ docker_endpoint: '/var/run/docker.sock' })), /docker_endpoint/);
    assert.throws(() => decodePluginConfig(cty({ output_secret_file: '/s' })), /need output_processor/);
    assert.throws(() => decodePluginConfig(new Uint8Array([0xc1])), /not the msgpack Nomad sends/);
  });
});

describe('task config', () => {
  it('takes the assignment from the payload by default, or a path, or inline', () => {
    assert.deepEqual(decodeTaskConfig(cty({ payload: null, assignment_path: null, assignment: null, kill_timeout: '5s' })), { source: { kind: 'payload', file: 'payload' }, killTimeout: '5s', killTimeoutMs: 5000 });
    assert.deepEqual(decodeTaskConfig(cty({ assignment_path: '/srv/a.json', kill_timeout: '1m30s' })).source, { kind: 'path', path: '/srv/a.json' });
    assert.deepEqual(decodeTaskConfig(cty({ assignment: '{}' })).source, { kind: 'inline', text: '{}' });
  });

  it('refuses two sources, a payload outside local/, a bad kill_timeout', () => {
    assert.throws(() => decodeTaskConfig(cty({ payload: 'p', assignment: '{}' })), /keep one/);
    assert.throws(() => decodeTaskConfig(cty({ payload: '../x' })), /under the task's local\/ folder/);
    assert.throws(() => decodeTaskConfig(cty({ kill_timeout: 'soon' })), /kill_timeout "soon" is not a duration/);
  });
});

describe('go-plugin handshake', () => {
  it('serves only with Nomad\'s cookie, and says what it is otherwise', () => {
    assert.equal(startedByNomad({}), false);
    assert.equal(startedByNomad({ NOMAD_PLUGIN_MAGIC_COOKIE: 'e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255' }), true);
    assert.match(NOT_BY_HAND, /task driver plugin for Nomad/);
    assert.equal(handshakeLine('/tmp/p/plugin.sock'), '1|2|unix|/tmp/p/plugin.sock|grpc|\n');
    assert.equal(offeredVersionProblem({ PLUGIN_PROTOCOL_VERSIONS: '2' }), undefined);
    assert.match(offeredVersionProblem({ PLUGIN_PROTOCOL_VERSIONS: '1' }) ?? '', /speaks 2/);
  });
});

describe('driver state and exits', () => {
  it('round-trips the driver state and refuses another driver\'s', () => {
    const state = { version: 1 as const, pid: 42, startTime: 7, bootId: 'b', exitFile: '/x/exit.json', containersId: 'nomad-a-agent', startedAt: new Date(0).toISOString() };
    assert.deepEqual(decodeDriverState(encodeDriverState(state)), state);
    assert.throws(() => decodeDriverState(Buffer.from('\x82\xa1a')), /not what this driver writes/);
    assert.throws(() => decodeDriverState(Buffer.from('{"version":2}')), /version 2/);
  });

  it('reports a signal as 128 + its number, and knows signal names', () => {
    assert.deepEqual(exitOf(null, 'SIGKILL'), { exitCode: 137, signal: 9 });
    assert.deepEqual(exitOf(143, null), { exitCode: 143, signal: 0 });
    assert.equal(signalName('term'), 'SIGTERM');
    assert.throws(() => signalName('SIGNOPE'), /not a signal/);
  });
});
