/**
 * `<<include(file)>>` is how an orb's source tree pulls a script into a command or job; `orb
 * pack` (orb-pack.ts) replaces it with the file's contents. One still there in a stored orb or a
 * config was never packed: it is an error, never text handed to a shell.
 */
import { configError, ConfigError, type SourcePos } from './diagnostics.js';
import { isMapValue, valuePos, type Value } from './source.js';

export interface FoundInclude {
  /** what is between `<<` and `>>`, e.g. `include(scripts/install.sh)` */
  body: string;
  pos: SourcePos | undefined;
}

export function unresolvedInclude(body: string, pos: SourcePos | undefined): ConfigError {
  return configError(
    pos,
    `<<${body.trim()}>> was never replaced: an include belongs to an orb's source folder and is filled in when the orb is packed; pack it with "deckhand orb pack DIR", or import the folder with "deckhand orb import DIR --name ns/name@version"`,
  );
}

/** Every string under `v` that still holds `<<include(…)>>`, with the position of its value. */
export function findIncludes(v: Value, pos: SourcePos | undefined, out: FoundInclude[] = []): FoundInclude[] {
  if (typeof v === 'string') {
    if (v.includes('include(')) for (const m of v.matchAll(/<<(\s*include\([^\n]*?)>>/g)) out.push({ body: m[1], pos });
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => findIncludes(x, valuePos(v, i) ?? pos, out));
  } else if (isMapValue(v)) {
    for (const [k, x] of Object.entries(v)) findIncludes(x, valuePos(v, k) ?? pos, out);
  }
  return out;
}
