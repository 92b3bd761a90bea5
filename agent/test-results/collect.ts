/**
 * The result files under a `store_test_results` path, read out of the primary container as one
 * tar stream (Executor.copyOut). A folder is searched recursively for `*.xml`; a file is taken
 * whatever its name. Each file is handed over in turn, as bytes when it is small enough to
 * parse, else as a stream (to store without parsing), so memory stays bounded.
 */
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Executor } from '../executor/executor.js';

/** Larger files are stored but not parsed: a DOM of them would take several times this in memory. */
export const MAX_PARSED_BYTES = 32 * 1024 * 1024;

export interface ResultFile {
  /** absolute path in the container */
  path: string;
  /** path below the step's `path` (the file's own name when `path` is a file) */
  relative: string;
  size: number;
}

/** Either the whole file (at most `maxParsed` bytes), or its stream, which the callee must read to the end. */
export type ResultFileBody = { bytes: Buffer } | { stream: AsyncIterable<Buffer> };

export async function collectResultFiles(
  executor: Executor,
  containerPath: string,
  onFile: (file: ResultFile, body: ResultFileBody) => Promise<void>,
  signal?: AbortSignal,
  maxParsed = MAX_PARSED_BYTES,
): Promise<void> {
  const out = await executor.copyOut(containerPath, signal);
  const extract = tar.extract();
  const feeding = pipeline(out, extract);
  feeding.catch(() => undefined);
  const base = containerPath.replace(/\/+$/, '').split('/').pop() ?? '';
  for await (const entry of extract) {
    const h = entry.header;
    const name = h.name.replace(/\/+$/, '');
    const isFile = h.type === 'file' || h.type === 'contiguous-file';
    // copyOut names entries after the path's last component: `results/…`, or just `a.xml` for a file
    const single = isFile && name === base;
    const relative = single ? base : name.startsWith(`${base}/`) ? name.slice(base.length + 1) : name;
    if (!isFile || (!single && !/\.xml$/i.test(name))) {
      entry.resume();
      continue;
    }
    const file: ResultFile = { path: single ? containerPath : `${containerPath.replace(/\/+$/, '')}/${relative}`, relative, size: h.size ?? 0 };
    if (file.size > maxParsed) {
      // tar-stream types entry chunks as unknown; they are Buffers
      await onFile(file, { stream: entry as AsyncIterable<Buffer> });
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    await onFile(file, { bytes: Buffer.concat(chunks) });
  }
  await feeding;
}
