/**
 * For the artifact tests: artifacts put into a real store with the store's own API, the real
 * `deckhand artifacts …` CLI run as a child process, `artifacts serve` started on a free port, and
 * HTTP requests sent with their path exactly as written (fetch would normalise `..` away).
 */
import { spawn, spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../agent/store/blob-store.js';
import { artifactPrefix } from '../../agent/store/keys.js';
import { deckhandBin } from '../support/execute.js';

/** Names by how they must be served (content-type.ts), for the rule's and the server's tests. */
export const TEXT = 'text/plain; charset=utf-8';

export const SAFE: ReadonlyArray<[string, string]> = [
  ['notes.txt', TEXT],
  ['build.log', TEXT],
  ['data.json', 'application/json'],
  ['shot.png', 'image/png'],
  ['photo.jpg', 'image/jpeg'],
  ['photo.JPEG', 'image/jpeg'],
  ['anim.gif', 'image/gif'],
  ['old.bmp', 'image/bmp'],
  ['clip.webm', 'video/webm'],
  ['clip.ogv', 'video/ogg'],
  ['clip.mp4', 'video/mp4'],
  ['sound.weba', 'audio/webm'],
  ['sound.aac', 'audio/aac'],
  ['sound.m4a', 'audio/mp4'],
  ['sound.mp3', 'audio/mpeg'],
  ['sound.ogg', 'audio/ogg'],
  ['sound.wav', 'audio/wav'],
];

export const AS_TEXT = ['report/index.html', 'page.htm', 'site.css', 'app.js', 'mod.mjs', 'junit.xml', 'logo.svg', 'page.xhtml'];
export const DOWNLOAD = ['app.exe', 'bundle.tar.gz', 'Makefile', 'core', '.env', 'a.pdf', 'flash.swf', 'page.html.', 'x.constructor', 'x.toString'];

export async function putArtifacts(store: BlobStore, jobRunId: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [path, body] of Object.entries(files)) {
    await store.put(`${artifactPrefix(jobRunId)}${path}`, Readable.from([Buffer.from(body)]));
  }
}

export interface CliRun {
  code: number | null;
  out: Buffer;
  err: string;
}

export function deckhand(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const r = spawnSync(process.execPath, [deckhandBin, ...args], { env: { ...process.env, ...env }, timeout: 60_000, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout, err: r.stderr.toString('utf8') };
}

export interface Serving {
  /** `http://127.0.0.1:PORT/artifacts/` */
  url: string;
  origin: string;
  /** what the server wrote to stderr so far */
  log(): string;
  /** sends `signal` and waits for the exit */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** `deckhand artifacts serve --listen 127.0.0.1:0` on `store`, once it has printed its URL. */
export async function serve(store: string, env: NodeJS.ProcessEnv = {}): Promise<Serving> {
  const child = spawn(process.execPath, [deckhandBin, 'artifacts', 'serve', '--store', store, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`artifacts serve printed no URL in 20 s: ${out}${err}`)), 20_000);
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /at (http:\/\/\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then(() => reject(new Error(`artifacts serve exited: ${out}${err}`)));
  });
  return {
    url,
    origin: new URL(url).origin,
    log: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const t0 = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exited;
      clearTimeout(timer);
      return { ...r, ms: Date.now() - t0 };
    },
  };
}

export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with `path` sent byte for byte as given. */
export function get(origin: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
