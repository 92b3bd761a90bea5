/**
 * Nomad starts a plugin with a magic cookie in its environment; anyone else who starts the file
 * (an operator trying it from a shell) gets told what it is. Not a security measure: go-plugin
 * does the same, for the same reason. The values are Nomad's handshake
 * (plugins/base/plugin.go in https://github.com/hashicorp/nomad).
 */
export const MAGIC_COOKIE_KEY = 'NOMAD_PLUGIN_MAGIC_COOKIE';
export const MAGIC_COOKIE_VALUE = 'e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255';
/** go-plugin's core protocol version, and Nomad's app protocol version (2: gRPC plugins). */
export const CORE_PROTOCOL_VERSION = 1;
export const NOMAD_PROTOCOL_VERSION = 2;

export function startedByNomad(env: NodeJS.ProcessEnv): boolean {
  return env[MAGIC_COOKIE_KEY] === MAGIC_COOKIE_VALUE;
}

export const NOT_BY_HAND =
  'deckhand: this is the Deckhand task driver plugin for Nomad, not a command to run by hand. ' +
  'Copy it into the Nomad client\'s plugin_dir and add a plugin "deckhand" {} block to the client\'s configuration; ' +
  'Nomad starts it. To run jobs yourself, use the deckhand command (deckhand execute, deckhand agent run). See docs/nomad.md.\n';

/**
 * The app protocol versions the host offers (PLUGIN_PROTOCOL_VERSIONS, a comma list), checked
 * against the one this plugin speaks. Undefined when the host named none (an older host: it
 * then expects the version it was built with, which for Nomad is 2).
 */
export function offeredVersionProblem(env: NodeJS.ProcessEnv): string | undefined {
  const offered = env.PLUGIN_PROTOCOL_VERSIONS;
  if (offered === undefined || offered.trim() === '') return undefined;
  const versions = offered.split(',').map((v) => v.trim());
  if (versions.includes(String(NOMAD_PROTOCOL_VERSION))) return undefined;
  return `the host offers plugin protocol versions ${offered}, and this plugin speaks ${NOMAD_PROTOCOL_VERSION} (Nomad 0.9 and later)`;
}

/** The line go-plugin's host reads from stdout: core|app|network|address|protocol|server cert (none: no TLS). */
export function handshakeLine(socketPath: string): string {
  return `${CORE_PROTOCOL_VERSION}|${NOMAD_PROTOCOL_VERSION}|unix|${socketPath}|grpc|\n`;
}
