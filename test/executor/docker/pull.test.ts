// Pulling through a real registry: CNCF distribution's `registry` on a free
// loopback port (scripts/ensure-registry-binary.sh builds it), one open and
// one behind htpasswd. An image made here is pushed to both, its local tags
// removed, then pulled back by the DockerExecutor. A missing registry binary
// fails these tests; it never skips them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { DockerExecutor } from '../../../agent/executor/docker/docker-executor.js';
import { pullProgressReporter, type PullEvent } from '../../../agent/executor/docker/pull-progress.js';
import { ExecutorError } from '../../../agent/executor/executor.js';
import type { RegistryAuth } from '../../../agent/executor/docker/container-spec.js';
import { present, push, splitTag, startRegistry, untag, type Registry } from '../../support/registry.js';
import { BUSYBOX, collect, realEngine, uniqueJobId } from './engine-fixture.js';

// A throwaway credential for a registry that lives on loopback for one test
// run. The hash is bcrypt (cost 5) of PASSWORD, made once with crypt(3):
//   perl -e 'print crypt("deckhand-pull-secret", "\$2b\$05\$DeckhandPullTestSalt0.")'
// so that no bcrypt library or htpasswd tool is needed. The "right
// credentials" test proves that it matches.
const USER = 'deckhand';
const PASSWORD = 'deckhand-pull-secret';
const HTPASSWD = `${USER}:$2b$05$DeckhandPullTestSalt0.k5bA9ZWfekZ6sG2U2ko5IxdR8VK6FZy\n`;

/** Random, so that it compresses to about its size and the pull has something to download. */
const PAYLOAD_BYTES = 1_500_000;

/** Runs prepare() and teardown(); returns the failure's single-line message, or undefined. */
async function prepareOnce(docker: Docker, image: string, options: { auth?: RegistryAuth; onPull?: (event: PullEvent) => void } = {}) {
  const executor = new DockerExecutor({
    docker,
    jobId: uniqueJobId('pull'),
    containers: [{ image, ...(options.auth ? { auth: options.auth } : {}) }],
    pull: 'missing',
    network: 'bridge',
    ...(options.onPull ? { onPull: options.onPull } : {}),
  });
  try {
    await executor.prepare();
    const payload = await collect(executor.exec({ command: ['/bin/sh', '-c', 'wc -c < /payload'] }));
    return { failure: undefined, payloadBytes: Number(payload.stdout.trim()) };
  } catch (error) {
    assert.ok(error instanceof ExecutorError, `expected an ExecutorError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/);
    return { failure: error.message, payloadBytes: undefined };
  } finally {
    await executor.teardown();
  }
}

let docker: Docker;
let open: Registry | undefined;
let guarded: Registry | undefined;
let openImage = '';
let guardedImage = '';

// Set up once, by the first test that needs it, so that a missing registry
// binary or engine is counted as failed tests (a failed `before` hook only
// cancels them).
let setup: Promise<void> | undefined;
const ready = (): Promise<void> => (setup ??= prepareRegistries());

async function prepareRegistries(): Promise<void> {
  docker = await realEngine();
  open = await startRegistry();
  guarded = await startRegistry(HTPASSWD);
  // An image with a layer of its own (random bytes) on top of busybox.
  const name = `deckhand-test/pull-${randomBytes(4).toString('hex')}`;
  openImage = `${open.host}/${name}:1`;
  guardedImage = `${guarded.host}/${name}:1`;
  const maker = await docker.createContainer({ Image: BUSYBOX, Cmd: ['sh', '-c', `head -c ${PAYLOAD_BYTES} /dev/urandom > /payload`] });
  try {
    await maker.start();
    await maker.wait();
    const [repo, tag] = splitTag(openImage);
    await maker.commit({ repo, tag });
  } finally {
    await maker.remove({ force: true });
  }
  const [guardedRepo, guardedTag] = splitTag(guardedImage);
  await docker.getImage(openImage).tag({ repo: guardedRepo, tag: guardedTag });
  await push(docker, openImage);
  await push(docker, guardedImage, { username: USER, password: PASSWORD });
  // Without a local tag the image, and its own layer, leave the engine.
  await untag(docker, openImage);
  await untag(docker, guardedImage);
  assert.equal(await present(docker, openImage), false);
}

after(async () => {
  if (docker) {
    for (const image of [openImage, guardedImage]) if (image) await untag(docker, image).catch(() => undefined);
  }
  await open?.stop();
  await guarded?.stop();
});

describe('pulling through a registry on loopback', () => {
  it('pulls a missing image, reporting progress as plain lines', async () => {
    await ready();
    const events: PullEvent[] = [];
    let plain = '';
    const report = pullProgressReporter({ tty: false, write: (text) => (plain += text) });
    const result = await prepareOnce(docker, openImage, {
      onPull: (event) => {
        events.push(event);
        report(event);
      },
    });
    assert.equal(result.failure, undefined);
    assert.equal(result.payloadBytes, PAYLOAD_BYTES, 'the container runs the pulled image');

    assert.deepEqual(events[0], { kind: 'started', image: openImage });
    assert.equal(events.at(-1)?.kind, 'finished');
    const statuses = events.flatMap((event) => (event.kind === 'progress' ? [event.message.status ?? ''] : []));
    assert.ok(statuses.includes('Downloading'), `no download progress in ${JSON.stringify(statuses)}`);
    assert.ok(statuses.includes('Pull complete'));

    const lines = plain.trimEnd().split('\n');
    assert.equal(lines[0], `Pulling image ${openImage}`);
    // The layer of random bytes compresses to about its own size.
    assert.ok(
      lines.some((line) => /^Downloaded layer [0-9a-f]{12} \(1\.[4-6] MB\)$/.test(line)),
      `no "Downloaded layer" line of ~1.5 MB in:\n${plain}`,
    );
    assert.match(lines.at(-1) ?? '', new RegExp(`^Pulled ${escape(openImage)} in \\d+\\.\\ds$`));
    assert.doesNotMatch(plain, /\r|\x1b/, 'plain output has no terminal controls');

    // The same events drawn for a terminal: one line redrawn in place.
    let tty = '';
    let clock = 0;
    const terminal = pullProgressReporter({ tty: true, write: (text) => (tty += text), now: () => (clock += 1000) });
    events.forEach(terminal);
    assert.match(tty, new RegExp(`\\r\\x1b\\[2KPulling ${escape(openImage)} — \\d/\\d layers, [\\d.]+/[\\d.]+ MB`));
    assert.ok(tty.endsWith(`in ${/in (\d+\.\ds)\n$/.exec(plain)?.[1]}\n`), `the terminal output ends with the "Pulled" line: ${JSON.stringify(tty.slice(-80))}`);
    assert.doesNotMatch(tty, /Downloaded layer/, 'per-layer lines are for logs, not the terminal');

    // Present now: "missing" does not pull again.
    const again: PullEvent[] = [];
    assert.equal((await prepareOnce(docker, openImage, { onPull: (event) => again.push(event) })).failure, undefined);
    assert.deepEqual(again, []);
    await untag(docker, openImage);
  });

  it('without credentials, fails in one line naming the image and saying to give auth', async () => {
    await ready();
    const events: PullEvent[] = [];
    const { failure } = await prepareOnce(docker, guardedImage, { onPull: (event) => events.push(event) });
    assert.ok(failure, 'the pull should have been refused');
    assert.match(failure, new RegExp(`cannot pull image "${escape(guardedImage)}"`));
    assert.match(failure, /auth: \{ username, password \}/);
    assert.deepEqual(
      events.map((event) => event.kind),
      ['started', 'failed'],
    );
    assert.equal(await present(docker, guardedImage), false);
  });

  it('with a wrong password, fails in one line naming the image and the user', async () => {
    await ready();
    const { failure } = await prepareOnce(docker, guardedImage, { auth: { username: USER, password: 'not-the-password' } });
    assert.ok(failure, 'the pull should have been refused');
    assert.match(failure, new RegExp(`cannot pull image "${escape(guardedImage)}"`));
    assert.match(failure, /refused the credentials of user "deckhand"/);
    assert.doesNotMatch(failure, /not-the-password/, 'the password never shows');
  });

  it('with the right credentials, pulls', async () => {
    await ready();
    const result = await prepareOnce(docker, guardedImage, { auth: { username: USER, password: PASSWORD } });
    assert.equal(result.failure, undefined);
    assert.equal(result.payloadBytes, PAYLOAD_BYTES);
    await untag(docker, guardedImage);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
