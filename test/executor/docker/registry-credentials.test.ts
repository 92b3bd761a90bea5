/**
 * Image credentials as a job's config gives them: `$VARIABLES` in `auth`, and `aws_auth` keys
 * traded for an ECR token. The ECR side is real: moto's ECR API on loopback hands out the
 * token, and a real registry behind htpasswd accepts exactly that token's password.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type Docker from 'dockerode';
import { ExecutorError } from '../../../agent/executor/executor.js';
import type { ContainerImageSpec } from '../../../agent/jobspec/jobspec.js';
import { fillVariables, registryCredentials } from '../../../agent/executor/docker/registry-credentials.js';
import { BUSYBOX, realEngine } from './engine-fixture.js';
import { deckhandBin, execute, job, project } from '../../support/execute.js';
import { startMoto, type MotoServer } from '../../support/moto.js';
import { present, push, splitTag, startRegistry, untag, type Registry } from '../../support/registry.js';

describe('auth values name project and context variables', () => {
  test('$NAME and ${NAME} are filled in', () => {
    assert.equal(fillVariables('a-$USER_1-${PASS}x', { USER_1: 'u', PASS: 'p' }, 'here'), 'a-u-px');
  });

  test('an unset variable is an error naming it and how to set it', () => {
    assert.throws(() => fillVariables('$NOPE', {}, 'image "x": auth.password'), (e: Error) => {
      assert.ok(e instanceof ExecutorError);
      assert.match(e.message, /^image "x": auth\.password refers to \$NOPE, which is not set; give it with -e NOPE=/);
      return true;
    });
  });

  test('aws_auth with only oidc_role_arn says what a local run needs instead', () => {
    const c: ContainerImageSpec = { image: '1.dkr.ecr.eu-west-1.amazonaws.com/x', environment: {}, awsAuth: { oidcRoleArn: 'arn:aws:iam::1:role/r' } };
    assert.throws(() => registryCredentials(c, {}, {}), /needs CircleCI's OIDC token.*give aws_access_key_id and aws_secret_access_key/);
  });

  test('plain auth comes back filled in; no credentials, none', () => {
    const c: ContainerImageSpec = { image: 'x', environment: {}, auth: { username: 'me', password: '$SECRET' } };
    assert.deepEqual(registryCredentials(c, { SECRET: 's3cr3t' }, {}), { username: 'me', password: 's3cr3t' });
    assert.equal(registryCredentials({ image: 'x', environment: {} }, {}, {}), undefined);
  });
});

// moto's token for its default account: base64("AWS:123456789012-auth-token"). The htpasswd line
// is bcrypt (cost 5) of that password, made once with crypt(3):
//   perl -e 'print crypt("123456789012-auth-token", "\$2b\$05\$DeckhandEcrTestSalt00.")'
const ECR_PASSWORD = '123456789012-auth-token';
const HTPASSWD = `AWS:$2b$05$DeckhandEcrTestSalt00.FzokEdL78MICTgfNMjv74JxNu9Cania\n`;

describe('aws_auth: an ECR token from the keys, used for the pull', () => {
  let docker: Docker | undefined;
  let moto: MotoServer | undefined;
  let registry: Registry | undefined;
  let image = '';

  after(async () => {
    if (docker && image) await untag(docker, image).catch(() => undefined);
    await registry?.stop();
    await moto?.stop();
  });

  test('deckhand execute pulls a private image with the token moto hands out for the keys', async () => {
    docker = await realEngine();
    moto = await startMoto();
    registry = await startRegistry(HTPASSWD);
    image = `${registry.host}/ecr-test/busybox-${randomBytes(4).toString('hex')}:1`;
    const [repo, tag] = splitTag(image);
    await docker.getImage(BUSYBOX).tag({ repo, tag });
    await push(docker, image, { username: 'AWS', password: ECR_PASSWORD });
    await untag(docker, image);
    assert.equal(await present(docker, image), false);

    const config = job(
      image,
      '      - run: echo pulled-and-ran',
      '        aws_auth:\n          aws_access_key_id: $ECR_KEY_ID\n          aws_secret_access_key: ${ECR_SECRET}\n',
    );
    const dir = project(config);
    const keys = ['-e', 'ECR_KEY_ID=AKIDEXAMPLE', '-e', 'ECR_SECRET=wJalrXUtnFEMIexample'];
    const r = execute(dir, keys, { AWS_ENDPOINT_URL_ECR: moto.endpoint, AWS_REGION: 'eu-west-1' });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /pulled-and-ran/);
    assert.equal(await present(docker, image), true);
    // not a terminal: the pull is told in plain lines, in the output and the log
    const escaped = image.replace(/[.]/g, '\\.');
    for (const text of [r.out, r.log]) {
      assert.match(text, new RegExp(`\nPulling image ${escaped}\n`));
      assert.match(text, new RegExp(`\nPulled ${escaped} in \\d+(\\.\\d+)?s\n`));
      assert.doesNotMatch(text, /\x1b\[2K/);
    }

    // on a terminal (a pty from script(1)): one live line redrawn in place, then the result
    await untag(docker, image);
    const cmd = [process.execPath, deckhandBin, 'execute', '--log-file', join(dir, 'tty.log'), ...keys].map((w) => `'${w}'`).join(' ');
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), AWS_ENDPOINT_URL_ECR: moto.endpoint, AWS_REGION: 'eu-west-1' },
      timeout: 120_000,
    });
    assert.equal(tty.status, 0, tty.stdout + tty.stderr);
    assert.match(tty.stdout, /\r\x1b\[2KPulling /);
    assert.match(tty.stdout, new RegExp(`Pulled ${escaped} in `));
    assert.doesNotMatch(readFileSync(join(dir, 'tty.log'), 'utf8'), /\x1b\[2K/, 'the log keeps no control characters');

    // no ECR to ask: a one-line error naming the image, exit 2, nothing pulled
    await untag(docker, image);
    const down = execute(dir, keys, { AWS_ENDPOINT_URL_ECR: 'http://127.0.0.1:9', AWS_REGION: 'eu-west-1' });
    assert.equal(down.code, 2, down.out + down.err);
    assert.match(down.out + down.err, new RegExp(`cannot get an ECR token to pull image "${image.replace(/[.]/g, '\\.')}" \\(region eu-west-1\\)`));
    assert.doesNotMatch(down.err, /\n\s+at /);
  });
});
