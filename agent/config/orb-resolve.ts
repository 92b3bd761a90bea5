/**
 * Before compiling: every registry orb a config uses, and every orb those orbs import, is made
 * present in the local registry — fetched from the orb registry when it is missing, as `circleci
 * config process` does, and stored under the exact version the registry answered so that the
 * next compile needs no network. Offline (no fetcher) nothing is fetched. Whatever stays missing
 * is returned with the reason, for the compiler to report every missing orb at once.
 */
import { ConfigError, formatDiagnostic } from './diagnostics.js';
import { DeckhandError, errorMessage } from '../errors.js';
import { orbScopes, type PreparedConfig } from './compile.js';
import { formatOrbRef, versionMatches, type OrbRef, type OrbRegistry } from './orb-registry.js';
import type { OrbVersion } from './orb-fetch.js';

/** Asks an orb registry for one orb version (OrbSource does, over CircleCI's GraphQL API). */
export interface OrbFetcher {
  /** the registry's host URL, for messages and the stored note */
  readonly host: string;
  orbVersion(reference: string): Promise<OrbVersion | undefined>;
}

export interface EnsureOrbsOptions {
  registry: OrbRegistry;
  /** where missing orbs come from; absent when offline */
  fetcher?: OrbFetcher;
  /** why there is no fetcher, said with every missing orb (e.g. "not fetched: --offline is set") */
  offlineReason?: string;
  /** told of each orb as it is stored */
  onFetched?: (stored: FetchedOrb) => void;
}

export interface FetchedOrb {
  /** as the config wrote it, e.g. circleci/node@5 */
  reference: string;
  /** what is stored, e.g. circleci/node@5.1.0 */
  stored: string;
  host: string;
}

export interface EnsureOrbsResult {
  fetched: FetchedOrb[];
  /** orbs still missing, by reference as written, with why they could not be fetched */
  problems: Map<string, string>;
}

/** Fetches what is missing (transitively), once per reference, a round of references at a time. */
export async function ensureOrbs(prepared: PreparedConfig, opts: EnsureOrbsOptions): Promise<EnsureOrbsResult> {
  const fetched: FetchedOrb[] = [];
  const problems = new Map<string, string>();
  for (;;) {
    const missing = new Map<string, OrbRef>();
    orbScopes(prepared, opts.registry, (ref) => {
      // a stored orb that fails to load is the compiler's to report; only absent ones are fetched
      const key = formatOrbRef(ref);
      if (opts.registry.resolveVersion(ref) === undefined && !problems.has(key)) missing.set(key, ref);
    });
    if (missing.size === 0) break;
    const fetcher = opts.fetcher;
    if (!fetcher) {
      for (const key of missing.keys()) problems.set(key, opts.offlineReason ?? 'not fetched: working offline');
      break;
    }
    // asked all at once; stored one at a time, since two references may answer one version
    const answers = await Promise.all(
      [...missing].map(async ([key, ref]) => {
        try {
          return { key, ref, answer: await fetcher.orbVersion(formatOrbRef(ref)) };
        } catch (err) {
          return { key, ref, error: err };
        }
      }),
    );
    for (const a of answers) {
      try {
        if ('error' in a) throw a.error;
        const stored = storeAnswer(a.ref, a.answer, fetcher.host, opts.registry);
        fetched.push(stored);
        opts.onFetched?.(stored);
      } catch (err) {
        problems.set(a.key, err instanceof ConfigError ? `what ${new URL(fetcher.host).host} answered is not a usable orb: ${err.diagnostics.map(formatDiagnostic).join('; ')}` : errorMessage(err));
      }
    }
  }
  return { fetched, problems };
}

/** Fetches one reference and stores it under the exact version the registry answered. */
export async function fetchInto(ref: OrbRef, fetcher: OrbFetcher, registry: OrbRegistry): Promise<FetchedOrb> {
  return storeAnswer(ref, await fetcher.orbVersion(formatOrbRef(ref)), fetcher.host, registry);
}

function storeAnswer(ref: OrbRef, answer: OrbVersion | undefined, registryHost: string, registry: OrbRegistry): FetchedOrb {
  const reference = formatOrbRef(ref);
  const host = new URL(registryHost).host;
  if (!answer) throw new DeckhandError(`the orb registry ${host} has no ${reference} (check the orb's name and version)`, 'input');
  if (!versionMatches(ref.version, answer.version)) {
    throw new DeckhandError(`the orb registry ${host} answered ${reference} with version ${JSON.stringify(answer.version)}, which does not match it`, 'infrastructure');
  }
  const exact: OrbRef = { namespace: ref.namespace, name: ref.name, version: answer.version };
  const stored = formatOrbRef(exact);
  registry.store(answer.source, exact, stored, { registry: registryHost, reference, fetchedAt: new Date().toISOString() });
  return { reference, stored, host: registryHost };
}
