// Service containers share the primary's network namespace: a service's port
// is reachable on localhost from the primary, and its name resolves there.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { BUSYBOX, DEBIAN, collect, realEngine, uniqueJobId } from './engine-fixture.js';

// busybox httpd serving /etc, in the foreground so the container stays up.
const httpd = (port: number): string[] => ['httpd', '-f', '-p', String(port), '-h', '/etc'];

// Retries while the service starts; fetches one file over HTTP with the
// primary's only client: bash's /dev/tcp (the Debian minbase has no curl).
const fetchScript = (host: string, port: number): string => `
for i in $(seq 100); do
  if exec 3<>/dev/tcp/${host}/${port} 2>/dev/null; then
    printf 'GET /group HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3; exit 0
  fi
  sleep 0.1
done
echo "nothing listens on ${host}:${port}" >&2; exit 1`;

describe('service containers', () => {
  let docker: Docker;
  let executor: DockerExecutor;
  before(async () => {
    docker = await realEngine();
    executor = new DockerExecutor({
      docker,
      jobId: uniqueJobId('services'),
      containers: [
        { image: DEBIAN },
        { image: BUSYBOX, name: 'web', command: httpd(8080) },
        { image: BUSYBOX, name: 'cache', command: httpd(6379), environment: { ROLE: 'cache' } },
      ],
    });
    await executor.prepare();
  });
  after(() => executor?.teardown());

  it('reaches a service on localhost from the primary', async () => {
    const result = await collect(executor.exec({ command: ['bash', '-c', fetchScript('localhost', 8080)] }));
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^HTTP\/1\.[01] 200/);
    assert.match(result.stdout, /\nroot:x:0:/);
  });

  it('resolves each service by its name from the primary', async () => {
    for (const [host, port] of [['web', 8080], ['cache', 6379]] as const) {
      const result = await collect(executor.exec({ command: ['bash', '-c', fetchScript(host, port)] }));
      assert.equal(result.exitCode, 0, `${host}:${port}: ${result.stderr}`);
      assert.match(result.stdout, /\nroot:x:0:/);
    }
    const hosts = await collect(executor.exec({ command: ['getent', 'hosts', 'web'] }));
    assert.match(hosts.stdout, /^127\.0\.0\.1\s+web/);
  });

  it('labels each service and gives it its own environment', async () => {
    const containers = await docker.listContainers({ filters: JSON.stringify({ label: [`com.deckhand.run=${executor.runId}`] }) });
    const roles = containers.map((c) => c.Labels['com.deckhand.role']).sort();
    assert.deepEqual(roles, ['primary', 'service', 'service']);
    const cache = containers.find((c) => c.Names.some((n) => n.endsWith('-service2')));
    assert.ok(cache, 'the second service is named after its position');
    const info = await docker.getContainer(cache.Id).inspect();
    assert.ok(info.Config.Env.includes('ROLE=cache'));
    assert.match(info.HostConfig.NetworkMode ?? '', /^container:/);
  });
});
