/** SSH into a job under Nomad: the task's dynamic `ssh` port and the address Nomad says others reach. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobAssignment } from '../../agent/assignment/assignment.js';
import { withNomadSshPort } from '../../agent/nomad/ssh-port.js';

const base = { ssh: { enabled: true, authorizedKeys: ['/keys.pub'], ports: { first: 64535, last: 65535 } } } as unknown as JobAssignment;

test('NOMAD_PORT_ssh replaces the range; the host port and IP are what the line shows', () => {
  const a = withNomadSshPort(base, { NOMAD_PORT_ssh: '22022', NOMAD_HOST_PORT_ssh: '64600', NOMAD_HOST_IP_ssh: '10.0.0.5' });
  assert.deepEqual(a.ssh, { enabled: true, authorizedKeys: ['/keys.pub'], port: 22022, advertisedPort: 64600, host: '10.0.0.5' });
});

test('host networking: one port, NOMAD_IP_ssh when no host IP is given; an address of the assignment stays', () => {
  assert.deepEqual(withNomadSshPort(base, { NOMAD_PORT_ssh: '64700', NOMAD_HOST_PORT_ssh: '64700', NOMAD_IP_ssh: '10.0.0.6' }).ssh, { enabled: true, authorizedKeys: ['/keys.pub'], port: 64700, host: '10.0.0.6' });
  const named = { ...base, ssh: { ...base.ssh!, host: 'builds.example.com' } };
  assert.equal(withNomadSshPort(named, { NOMAD_PORT_ssh: '64700', NOMAD_IP_ssh: '10.0.0.6' }).ssh?.host, 'builds.example.com');
});

test('no NOMAD_PORT_ssh, or SSH not enabled: unchanged; a port that is not one is an input error', () => {
  assert.equal(withNomadSshPort(base, {}), base);
  const off = { ...base, ssh: { ...base.ssh!, enabled: false } };
  assert.equal(withNomadSshPort(off, { NOMAD_PORT_ssh: '1' }), off);
  assert.throws(() => withNomadSshPort(base, { NOMAD_PORT_ssh: 'http' }), /NOMAD_PORT_ssh is "http": it must be a TCP port \(1 to 65535\)/);
});
