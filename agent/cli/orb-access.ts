/**
 * How the commands that compile a config reach orbs: the local registry under `DECKHAND_HOME`,
 * and an orb registry to fetch missing ones from — CircleCI's, or the host `--orb-registry` /
 * `DECKHAND_ORB_REGISTRY` names (a CircleCI Server), with `CIRCLE_TOKEN` for private orbs — unless
 * `--offline` or `DECKHAND_OFFLINE=1` says never to touch the network. The environment is read
 * here and nowhere below.
 */
import { prepareConfig, type CompileOptions } from '../config/compile.js';
import { ConfigError } from '../config/diagnostics.js';
import { DEFAULT_ORB_REGISTRY, OrbSource } from '../config/orb-fetch.js';
import { deckhandHome, OrbRegistry } from '../config/orb-registry.js';
import { ensureOrbs, type FetchedOrb } from '../config/orb-resolve.js';
import type { Value } from '../config/source.js';

/** The flags every command that compiles a config takes. */
export interface OrbFlags {
  /** the orb registry's host URL */
  orbRegistry?: string;
  offline?: boolean;
}

export interface OrbAccess {
  registry: OrbRegistry;
  /** absent when offline */
  source?: OrbSource;
  offlineReason?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function isOffline(flags: OrbFlags, env: Env): string | undefined {
  if (flags.offline) return 'not fetched: --offline is set';
  if (/^(1|true|yes|on)$/i.test(env.DECKHAND_OFFLINE ?? '')) return 'not fetched: DECKHAND_OFFLINE is set';
  return undefined;
}

export function orbAccess(flags: OrbFlags, env: Env): OrbAccess {
  const registry = new OrbRegistry(deckhandHome(env as NodeJS.ProcessEnv));
  const offline = isOffline(flags, env);
  if (offline) return { registry, offlineReason: offline };
  return { registry, source: orbSource(flags, env) };
}

export function orbSource(flags: OrbFlags, env: Env): OrbSource {
  const host = flags.orbRegistry ?? (env.DECKHAND_ORB_REGISTRY || DEFAULT_ORB_REGISTRY);
  return new OrbSource({ host, ...(env.CIRCLE_TOKEN ? { token: env.CIRCLE_TOKEN } : {}) });
}

export function fetchedLine(f: FetchedOrb): string {
  return `deckhand: fetched orb ${f.stored}${f.reference === f.stored ? '' : ` (for ${f.reference})`} from ${f.host}\n`;
}

/**
 * Fetches the orbs a config needs that the local registry lacks (saying so on stderr), and
 * returns why any could not be fetched. A config too broken to read its orbs from fetches
 * nothing: its compile reports why.
 */
export async function fetchConfigOrbs(root: Value, file: string, options: CompileOptions, access: OrbAccess, tolerateShape = false): Promise<ReadonlyMap<string, string>> {
  try {
    const prepared = prepareConfig(root, file, options, tolerateShape);
    const result = await ensureOrbs(prepared, {
      registry: access.registry,
      ...(access.source ? { fetcher: access.source } : {}),
      ...(access.offlineReason ? { offlineReason: access.offlineReason } : {}),
      onFetched: (f) => process.stderr.write(fetchedLine(f)),
    });
    return result.problems;
  } catch (err) {
    if (err instanceof ConfigError) return new Map();
    throw err;
  }
}

