/**
 * An assignment's `ssh` section read at job start: public keys from files (the service's own
 * machine) and inline lines (a Nomad client, which does not share those files) both count, a key
 * given both ways counts once, and no usable key at all stops the job with one line saying so.
 * Keys are ssh-keygen's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jobSshSettings } from '../../agent/debug-ssh/settings.js';
import { UsageError } from '../../agent/errors.js';
import { clientKey } from '../support/openssh.js';

describe('the SSH settings of a job', () => {
  const fromFile = clientKey('from_file');
  const inline = clientKey('inline');

  test('keys inline only: their fingerprints are the ones ssh-keygen prints', () => {
    const s = jobSshSettings({ enabled: true, authorizedKeyLines: [inline.publicKey] });
    assert.deepEqual(s?.keys.keys.map((k) => k.fingerprint), [inline.fingerprint]);
    assert.deepEqual(s?.keys.skipped, []);
  });

  test('files and lines both count, files first; a key given both ways counts once', () => {
    const s = jobSshSettings({ enabled: true, authorizedKeys: [fromFile.publicPath], authorizedKeyLines: [inline.publicKey, fromFile.publicKey] });
    assert.deepEqual(s?.keys.keys.map((k) => k.fingerprint), [fromFile.fingerprint, inline.fingerprint]);
  });

  test('a line that is not a key is skipped and said so, the others count', () => {
    const s = jobSshSettings({ enabled: true, authorizedKeyLines: ['not a key', inline.publicKey] });
    assert.deepEqual(s?.keys.keys.map((k) => k.fingerprint), [inline.fingerprint]);
    assert.match(s!.keys.skipped[0], /^ssh\.authorizedKeyLines:1: not a public key line/);
  });

  test('no usable key at all stops the job, in one line naming where keys were looked for', () => {
    assert.throws(
      () => jobSshSettings({ enabled: true, authorizedKeyLines: ['command="x" ' + inline.publicKey] }),
      (err: Error) => err instanceof UsageError && /^no usable public key in ssh\.authorizedKeyLines \(ssh\.authorizedKeyLines:1: key options .*\); give OpenSSH public keys/.test(err.message) && !err.message.includes('\n'),
    );
  });

  test('not enabled: no settings, whatever the keys', () => {
    assert.equal(jobSshSettings({ enabled: false, authorizedKeyLines: [inline.publicKey] }), undefined);
  });
});
