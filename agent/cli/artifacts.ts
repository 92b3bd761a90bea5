/** `deckhand artifacts list|get|serve`: the artifacts `store_artifacts` kept (docs/artifacts.md). */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { checkJobRunId, isArtifactPath, listArtifacts, listJobRuns, openArtifact } from '../artifacts/catalog.js';
import { formatBytes } from '../store/format-bytes.js';
import type { BlobStore } from '../store/blob-store.js';
import { openBlobStore } from '../store/open-store.js';
import { UsageError } from '../errors.js';

export interface ArtifactsListFlags {
  store?: string;
  json?: boolean;
}

/** Without an id: the job runs that have artifacts, newest first; with one: its artifacts. */
export async function artifactsListCommand(jobRunId: string | undefined, flags: ArtifactsListFlags): Promise<number> {
  const store = await openBlobStore(flags.store);
  if (jobRunId === undefined) {
    const runs = await listJobRuns(store);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(runs.map((r) => ({ jobRunId: r.jobRunId, artifacts: r.count, bytes: r.bytes, modified: r.modified.toISOString() })))}\n`);
    } else if (runs.length === 0) {
      process.stderr.write(`no artifacts in ${store.location}\n`);
    } else {
      const rows = runs.map((r) => [r.jobRunId, String(r.count), formatBytes(r.bytes), r.modified.toISOString()]);
      process.stdout.write(table(['JOB RUN ID', 'ARTIFACTS', 'SIZE', 'STORED'], rows));
    }
    return 0;
  }
  const artifacts = await listArtifacts(store, jobRunId);
  if (artifacts.length === 0) throw unknownJobRun(store, jobRunId);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(artifacts.map((a) => ({ path: a.path, size: a.size, modified: a.modified.toISOString() })))}\n`);
  } else {
    process.stdout.write(table(['PATH', 'SIZE', 'STORED'], artifacts.map((a) => [a.path, formatBytes(a.size), a.modified.toISOString()])));
  }
  return 0;
}

/** Writes one artifact's bytes to `-o FILE` (whole or not at all) or to standard output. */
export async function artifactsGetCommand(jobRunId: string, path: string, flags: { store?: string; output?: string }): Promise<number> {
  checkJobRunId(jobRunId);
  if (!isArtifactPath(path)) throw new UsageError(`artifact path ${JSON.stringify(path)} is not valid: a relative path without empty, "." or ".." segments (see \`deckhand artifacts list ${jobRunId}\`)`);
  const store = await openBlobStore(flags.store);
  const body = await openArtifact(store, jobRunId, path);
  if (!body) {
    if ((await listArtifacts(store, jobRunId)).length === 0) throw unknownJobRun(store, jobRunId);
    throw new UsageError(`job run ${jobRunId} has no artifact ${path} in ${store.location}; \`deckhand artifacts list ${jobRunId}\` lists its artifacts`);
  }
  if (flags.output === undefined || flags.output === '-') {
    await pipeline(body, process.stdout, { end: false });
    return 0;
  }
  const partial = `${flags.output}.deckhand-partial`;
  try {
    await pipeline(body, createWriteStream(partial));
    await rename(partial, flags.output);
  } catch (e) {
    await rm(partial, { force: true });
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR' || err.code === 'ENOTDIR') throw new UsageError(`-o ${flags.output}: cannot write there (${err.code})`);
    throw e;
  }
  return 0;
}

/** Serves the store's artifacts over HTTP until SIGTERM or SIGINT. */
export async function artifactsServeCommand(flags: { store?: string; listen: string; debug?: boolean }): Promise<number> {
  const { splitHostPort } = await import('../net/host-port.js');
  const { jsonLogger } = await import('../daemon-log.js');
  const { startArtifactServer } = await import('../artifacts/server.js');
  const { host, port } = splitHostPort(flags.listen, '--listen');
  const store = await openBlobStore(flags.store);
  const logger = jsonLogger(process.stderr, flags.debug ? 'debug' : 'info');
  let server;
  try {
    server = await startArtifactServer({ store, host, port, logger });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES') throw new UsageError(`--listen ${flags.listen}: cannot listen there (${err.code})`);
    throw e;
  }
  process.stdout.write(`serving artifacts of ${store.location} at ${server.url}\n`);
  logger.log('info', 'listening', { url: server.url, store: store.location });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const stop = (s: NodeJS.Signals): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve(s);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  logger.log('info', 'shutting down', { signal });
  await server.close();
  return 0;
}

function unknownJobRun(store: BlobStore, jobRunId: string): UsageError {
  return new UsageError(`job run ${jobRunId} has no artifacts in ${store.location}; \`deckhand artifacts list\` lists the job runs that have some`);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
