/** The plugin's version: Deckhand's (package.json), put into the bundle when it is built. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

declare const __DECKHAND_VERSION__: string | undefined;

export function pluginVersion(): string {
  if (typeof __DECKHAND_VERSION__ !== 'undefined') return __DECKHAND_VERSION__;
  // compiled layout: dist/nomad-plugin/src/version.js → package.json
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}
