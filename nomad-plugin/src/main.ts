/**
 * `deckhand`, the Nomad task driver plugin: the file an operator copies into the client's
 * plugin_dir. Nomad starts it with its magic cookie, reads the handshake line from stdout and
 * talks gRPC over the unix socket it names (docs/nomad.md). Started by hand, it says what it is
 * and exits 1. The file runs this through launcher.ts, which keeps a V8 code cache for it.
 */
import { startedByNomad, NOT_BY_HAND, offeredVersionProblem } from './go-plugin/cookie.js';
import { stderrLog } from './go-plugin/log.js';
import { servePlugin } from './go-plugin/serve.js';
import { baseService } from './base/service.js';
import { DeckhandDriver } from './driver/service.js';
import { pluginVersion } from './version.js';

async function serve(): Promise<void> {
  if (!startedByNomad(process.env)) {
    process.stderr.write(NOT_BY_HAND);
    process.exitCode = 1;
    return;
  }
  const log = stderrLog();
  const versionProblem = offeredVersionProblem(process.env);
  if (versionProblem) {
    log.log('error', `${versionProblem}: use a Nomad client that loads gRPC driver plugins`);
    process.exitCode = 1;
    return;
  }
  // The host may go away (a client restart keeps its plugins) and take our pipes with it: the
  // tasks are detached and must go on, so a broken stdout or stderr is not fatal.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  // A Ctrl-C in the terminal that started Nomad reaches the whole process group: Nomad decides
  // when its plugins end (go-plugin's own servers ignore SIGINT too). SIGHUP: the same.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);

  // SIGTERM ends the plugin cleanly (its socket's folder removed), even one still starting
  const terminated = new AbortController();
  process.on('SIGTERM', () => terminated.abort());

  const version = pluginVersion();
  const driver = new DeckhandDriver({ version, log, env: process.env });
  const served = await servePlugin(
    { base: baseService(version, log, (config) => driver.configure(config)), driver: driver.service() },
    log,
    process.env,
    (line) => void process.stdout.write(line),
    terminated.signal,
  );
  await served.stopped;
  // anything still open (a stats timer, a docker socket) must not keep a stopped plugin alive
  process.exit(0);
}

export function main(): Promise<void> {
  return serve().catch((err: unknown) => {
    process.stderr.write(`${JSON.stringify({ '@level': 'error', '@message': `the deckhand plugin failed: ${err instanceof Error ? err.message : String(err)}`, '@timestamp': new Date().toISOString() })}\n`);
    process.exit(1);
  });
}
