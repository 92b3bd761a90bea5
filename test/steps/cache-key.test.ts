/**
 * Cache key templates: the rendering rules on their own (the container-side sources, checksum
 * and arch, are exercised end to end in save-cache.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderCacheKey, type KeySources } from '../../agent/steps/cache-key.js';

const sources: KeySources = {
  environment: { CIRCLE_BRANCH: 'feature/x', CIRCLE_SHA1: 'abc123', CIRCLE_BUILD_NUM: '42', LANG_VERSION: '3.12' },
  checksum: async (path) => `sum(${path})`,
  arch: async () => 'arch1-linux-amd64-6_85',
  epoch: () => 1700000000,
};

test('every action CircleCI documents, with and without spaces', async () => {
  assert.equal(
    await renderCacheKey('v1-{{ .Branch }}-{{.Revision}}-{{ .BuildNum }}-{{ .Environment.LANG_VERSION }}-{{ checksum "package-lock.json" }}-{{ epoch }}-{{ arch }}', sources),
    'v1-feature/x-abc123-42-3.12-sum(package-lock.json)-1700000000-arch1-linux-amd64-6_85',
  );
  assert.equal(await renderCacheKey('plain-key', sources), 'plain-key');
  assert.equal(await renderCacheKey('{{ checksum `go.sum` }}', sources), 'sum(go.sum)');
  assert.equal(await renderCacheKey('{{ checksum "a \\"b\\".lock" }}', sources), 'sum(a "b".lock)');
});

test('an unset variable renders <no value>, as Go templates do', async () => {
  assert.equal(await renderCacheKey('v1-{{ .Environment.NOPE }}', sources), 'v1-<no value>');
});

test('bad templates say what and where', async () => {
  await assert.rejects(renderCacheKey('v1-{{ .Branch', sources), /cache key "v1-\{\{ \.Branch": "\{\{" at column 4 is never closed with "\}\}"/);
  await assert.rejects(renderCacheKey('v1-}}', sources), /"\}\}" without a matching "\{\{"/);
  await assert.rejects(renderCacheKey('{{ .CheckoutKey }}', sources), /unsupported template action \{\{ \.CheckoutKey \}\}; supported: \{\{ \.Branch \}\}/);
  await assert.rejects(renderCacheKey('{{ checksum package.json }}', sources), /unsupported template action \{\{ checksum package\.json \}\}/);
  await assert.rejects(renderCacheKey('{{ .Environment.1BAD }}', sources), /unsupported template action/);
});
