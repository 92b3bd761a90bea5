/**
 * setup_remote_docker end to end, with the real CLI: a Docker job whose primary (Deckhand's VM
 * image, which has the docker CLI and curl) builds an image FROM a local busybox on a remote engine
 * of its own and runs it; the engine refuses a client without the job's certificate; with
 * docker_layer_caching the second build of the project reuses the first one's layers; the VM and
 * the job's network go with the job.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { execute, project } from '../support/execute.js';
import { leftByEndedRuns, newLeftovers } from '../support/leftovers.js';

const PRIMARY = 'deckhand-test/vm:bookworm';

function config(layerCaching: boolean): string {
  return `version: 2.1
jobs:
  build:
    docker:
      - image: ${PRIMARY}
    steps:
      - checkout
      - setup_remote_docker:
          version: default${layerCaching ? '\n          docker_layer_caching: true' : ''}
      - run: docker version --format 'remote engine {{.Server.Version}}'
      - run: docker load -q -i busybox.tar && docker tag deckhand-test/busybox:latest local/busybox && docker build -t hello . && docker run --rm hello
      - run: |
          host=\${DOCKER_HOST#tcp://}
          curl -sS --cacert $DOCKER_CERT_PATH/ca.pem https://$host/version >/dev/null 2>curl.err && echo "no certificate: accepted" || echo "no certificate: refused ($(head -c 200 curl.err))"
          curl -sS --cacert $DOCKER_CERT_PATH/ca.pem --cert $DOCKER_CERT_PATH/cert.pem --key $DOCKER_CERT_PATH/key.pem https://$host/version | grep -q ApiVersion && echo "with certificate: accepted"
`;
}

const DOCKERFILE = 'FROM local/busybox\nRUN echo built-on-the-remote-engine > /built\nCMD ["cat", "/built"]\n';

describe('setup_remote_docker', { concurrency: false, timeout: 600_000 }, () => {
  const before = leftByEndedRuns();
  const volumes: string[] = [];
  after(() => {
    for (const v of volumes) execFileSync('docker', ['volume', 'rm', '-f', v], { stdio: 'ignore' });
  });

  /** A repository with the job, a Dockerfile and busybox as `docker save` writes it. */
  function repo(layerCaching: boolean): string {
    const dir = project(config(layerCaching), { Dockerfile: DOCKERFILE });
    execFileSync('docker', ['save', '-o', `${dir}/busybox.tar`, 'deckhand-test/busybox:latest']);
    execFileSync('git', ['add', 'busybox.tar'], { cwd: dir });
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'image'], { cwd: dir });
    return dir;
  }

  test('builds FROM a local image and runs it on the job\'s own engine over TLS; a client without the certificate is refused; nothing is left', () => {
    const r = execute(repo(false), []);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /\nRemote Docker engine \S+ is ready at tcp:\/\/[\d.]+:2376 \(TLS with this job's certificates\) after [\d.]+s\n/);
    assert.match(r.out, /\nremote engine \S+\n/);
    assert.match(r.out, /\nbuilt-on-the-remote-engine\n/);
    assert.match(r.out, /\nno certificate: refused \(.*(certificate|alert|handshake)/i);
    assert.match(r.out, /\nwith certificate: accepted\n/);
    assert.deepEqual(newLeftovers(before), [], 'the VM, the primary and the job network are gone');
  });

  test('docker_layer_caching: the second build of the project reuses the first one\'s layers', () => {
    const dir = repo(true);
    const first = execute(dir, []);
    assert.equal(first.code, 0, first.out + first.err);
    const volume = /with Docker layer caching \(volume (deckhand-dlc-[0-9a-f]+)\)/.exec(first.out)?.[1];
    assert.ok(volume, first.out);
    assert.equal(volume, `deckhand-dlc-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`, 'one volume per project');
    volumes.push(volume);
    assert.doesNotMatch(first.out, /Using cache/);
    const second = execute(dir, []);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(second.out, /Step 2\/3 : RUN echo built-on-the-remote-engine > \/built\n ---> Using cache\n/);
    assert.deepEqual(newLeftovers(before), []);
  });
});
