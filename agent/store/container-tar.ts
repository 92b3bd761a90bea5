/**
 * The primary container's own `tar`, when it has one: archives are made and unpacked there, as
 * root so that every file can be read and every owner restored. The engine's archive API
 * (copyOut/copyIn) is the fallback for images without tar; it works everywhere but pays much more
 * per file, which dominates for trees of many small files such as node_modules
 * (docs/benchmarks.md, "Storage").
 */
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Executor } from '../executor/executor.js';

/** Whether the primary has `tar`; with `gzip` too when `gzip` is set (GNU tar needs it; busybox tar has it built in). */
export async function hasTar(executor: Executor, opts: { gzip: boolean; signal?: AbortSignal }): Promise<boolean> {
  const script = opts.gzip ? 'command -v tar >/dev/null && { command -v gzip >/dev/null || tar --help 2>&1 | grep -qi gzip; }' : 'command -v tar >/dev/null';
  const r = await runAsRoot(executor, script, [], opts.signal).catch(() => undefined);
  return r?.exitCode === 0;
}

/**
 * An uncompressed tar of `names` (relative to `base`, `.` for base itself) made by the
 * container's tar; the stream fails, rather than ends, when tar exits with an error.
 */
export function tarOut(executor: Executor, base: string, names: string[], signal?: AbortSignal): Readable {
  // through sh, as the probe: busybox's sh finds its tar applet even where no tar file is on PATH
  const script = 'base=$1; shift; exec tar -cf - -C "$base" -- "$@"';
  const run = executor.exec({ command: ['/bin/sh', '-c', script, 'sh', base, ...names], user: '0:0', ...(signal ? { signal } : {}) });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  let stderr = '';
  run.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString('utf8');
  });
  run.stdout.pipe(out, { end: false });
  // `exit` can resolve while stdout still holds bytes the pipe has not passed on: wait for its end
  Promise.all([run.exit, finished(run.stdout)]).then(
    ([r]) => (r.exitCode === 0 ? out.end() : out.destroy(new Error(`tar in the primary container exited with ${r.exitCode}: ${lastLines(stderr)}`))),
    (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}

/** `/bin/sh -c script sh args…` as root, its stderr kept (the last few KB). */
export async function runAsRoot(executor: Executor, script: string, args: string[], signal?: AbortSignal): Promise<{ exitCode: number; stderr: string }> {
  const run = executor.exec({ command: ['/bin/sh', '-c', script, 'sh', ...args], user: '0:0', ...(signal ? { signal } : {}) });
  run.stdout.resume();
  let stderr = '';
  run.stderr.on('data', (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString('utf8');
  });
  const { exitCode } = await run.exit;
  return { exitCode, stderr };
}

export function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('; ');
}
