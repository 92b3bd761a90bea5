/**
 * Cache key templates, as CircleCI renders them (Go text/template with these actions):
 * `{{ .Branch }}`, `{{ .Revision }}`, `{{ .BuildNum }}`, `{{ .Environment.NAME }}` (a variable
 * that is not set renders `<no value>`, as Go's templates render a missing map key),
 * `{{ checksum "file" }}` (base64 of the SHA-256 of the file's contents, the path relative to the
 * working directory), `{{ epoch }}` (Unix seconds) and `{{ arch }}` (`arch1-linux-amd64-6_85`:
 * OS, CPU architecture, and CPU family_model). Anything else is an error that names the action.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { captureScript, StepFailure } from './container-script.js';
import { resolvePath } from './shell.js';
import type { StepContext } from './step.js';

export interface KeySources {
  environment: Record<string, string>;
  /** base64 SHA-256 of a file's contents (path as written in the template) */
  checksum(path: string): Promise<string>;
  arch(): Promise<string>;
  /** Unix seconds */
  epoch(): number;
}

const ACTIONS = '{{ .Branch }}, {{ .Revision }}, {{ .BuildNum }}, {{ .Environment.NAME }}, {{ checksum "file" }}, {{ epoch }}, {{ arch }}';

/** The key a template stands for; throws StepFailure naming the bad part of the template. */
export async function renderCacheKey(template: string, src: KeySources): Promise<string> {
  let out = '';
  let at = 0;
  for (;;) {
    const open = template.indexOf('{{', at);
    if (open < 0) {
      const tail = template.slice(at);
      if (tail.includes('}}')) throw new StepFailure(`cache key "${template}": "}}" without a matching "{{"`);
      return out + tail;
    }
    out += template.slice(at, open);
    const close = template.indexOf('}}', open + 2);
    if (close < 0) throw new StepFailure(`cache key "${template}": "{{" at column ${open + 1} is never closed with "}}"`);
    out += await action(template.slice(open + 2, close).trim(), template, src);
    at = close + 2;
  }
}

async function action(text: string, template: string, src: KeySources): Promise<string> {
  const env = src.environment;
  switch (text) {
    case '.Branch':
      return env.CIRCLE_BRANCH ?? '';
    case '.Revision':
      return env.CIRCLE_SHA1 ?? '';
    case '.BuildNum':
      return env.CIRCLE_BUILD_NUM ?? '';
    case 'epoch':
      return String(src.epoch());
    case 'arch':
      return src.arch();
  }
  const variable = /^\.Environment\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(text);
  if (variable) return env[variable[1]] ?? '<no value>';
  const checksum = /^checksum\s+(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)$/.exec(text);
  if (checksum) {
    const path = checksum[2] ?? (JSON.parse(`"${checksum[1]}"`) as string);
    return src.checksum(path);
  }
  throw new StepFailure(`cache key "${template}": unsupported template action {{ ${text} }}; supported: ${ACTIONS}`);
}

/** Key sources that read from the job's primary container. */
export function containerKeySources(ctx: Pick<StepContext, 'executor' | 'signal' | 'environment' | 'workingDirectory' | 'home'>): KeySources {
  let arch: Promise<string> | undefined;
  return {
    environment: ctx.environment,
    checksum: (path) => checksumInContainer(ctx, resolvePath(path, ctx.home, ctx.workingDirectory)),
    arch: () => (arch ??= archOf(ctx)),
    epoch: () => Math.floor(Date.now() / 1000),
  };
}

async function checksumInContainer(ctx: Pick<StepContext, 'executor' | 'signal'>, path: string): Promise<string> {
  let out;
  try {
    out = await ctx.executor.copyOut(path, ctx.signal);
  } catch (err) {
    throw new StepFailure(`cannot compute {{ checksum "${path}" }}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const extract = tar.extract();
  const feeding = pipeline(out, extract);
  feeding.catch(() => undefined);
  let digest: string | undefined;
  let kind = 'nothing';
  for await (const entry of extract) {
    if (digest === undefined && kind === 'nothing') {
      kind = entry.header.type;
      if (kind === 'file' || kind === 'contiguous-file') {
        const hash = createHash('sha256');
        for await (const chunk of entry) hash.update(chunk as Buffer);
        digest = hash.digest('base64');
        continue;
      }
    }
    entry.resume();
  }
  await feeding;
  if (digest === undefined) throw new StepFailure(`cannot compute {{ checksum "${path}" }}: ${kind === 'directory' ? 'it is a directory' : kind === 'symlink' ? 'it is a symbolic link' : 'not a regular file'}; checksum takes a file`);
  return digest;
}

const GOARCH: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', aarch64: 'arm64', arm64: 'arm64', i386: '386', i686: '386', armv7l: 'arm', armv6l: 'arm', s390x: 's390x', ppc64le: 'ppc64le', riscv64: 'riscv64' };

/** CircleCI's `arch1-<os>-<goarch>-<cpu family>_<model>` of the primary container. */
async function archOf(ctx: Pick<StepContext, 'executor' | 'signal'>): Promise<string> {
  const script = [
    'uname -s; uname -m',
    'family=; model=',
    'while IFS=: read -r k v; do',
    // the key without its trailing tabs: "model" is not "model name"
    '  k=${k%"${k##*[![:space:]]}"}',
    '  case "$k" in',
    '    "cpu family") family=$v ;;',
    '    model) model=$v ;;',
    '  esac',
    '  [ -n "$family" ] && [ -n "$model" ] && break',
    'done < /proc/cpuinfo 2>/dev/null',
    'echo $family; echo $model',
  ].join('\n');
  const r = await captureScript(ctx, script);
  const [os = '', machine = '', family = '', model = ''] = r.stdout.split('\n').map((l) => l.trim());
  if (r.exitCode !== 0 || !os) throw new StepFailure(`cannot compute {{ arch }}: \`uname\` failed in the primary container (${r.stderr.trim() || `exit ${r.exitCode}`})`);
  const base = `arch1-${os.toLowerCase()}-${GOARCH[machine] ?? machine}`;
  return family && model ? `${base}-${family}_${model}` : base;
}
