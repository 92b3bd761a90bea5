/**
 * The content-type rule: CircleCI Server's allowed list renders, HTML/CSS/JavaScript/XML (SVG
 * included) are plain text, everything else is a download.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { artifactContentType, artifactHeaders } from '../../agent/artifacts/content-type.js';
import { AS_TEXT, DOWNLOAD, SAFE, TEXT } from './artifacts-fixture.js';

test('the allowed list of CircleCI Server renders with its own type', () => {
  for (const [name, type] of SAFE) assert.deepEqual(artifactContentType(name), { type, attachment: false }, name);
});

test('HTML, CSS, JavaScript and XML, SVG included, are plain text, never their own type', () => {
  for (const name of AS_TEXT) assert.deepEqual(artifactContentType(`dir.html/${name}`), { type: TEXT, attachment: false }, name);
  assert.notEqual(artifactContentType('logo.svg').type, 'image/svg+xml');
});

test('anything else, no extension or a dot file included, is a download', () => {
  for (const name of DOWNLOAD) assert.deepEqual(artifactContentType(`out/${name}`), { type: 'application/octet-stream', attachment: true }, name);
});

test('every response says nosniff and forbids loading and running anything; names are quoted safely', () => {
  const h = artifactHeaders('r/ü "x".bin');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['content-security-policy'], "default-src 'none'; sandbox");
  assert.equal(h['content-disposition'], `attachment; filename="_ _x_.bin"; filename*=UTF-8''%C3%BC%20%22x%22.bin`);
  assert.equal(artifactHeaders('a.png')['content-disposition'], `inline; filename="a.png"; filename*=UTF-8''a.png`);
});
