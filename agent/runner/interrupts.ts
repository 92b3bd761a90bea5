/**
 * Ctrl-C and SIGTERM for commands that run jobs: the first signal aborts (steps stop, containers
 * are removed, logs flushed); a second one removes the jobs' containers at once, without waiting
 * for steps that ignore SIGTERM, and exits 130.
 */

/** Starts watching; returns the function that stops watching. `jobIds` names the containers' job labels. */
export function watchInterrupts(controller: AbortController, jobIds: () => string[], what: string): () => void {
  let signals = 0;
  const onSignal = (name: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`\n${name}: stopping ${what} and cleaning up (again to force)\n`);
      controller.abort();
      return;
    }
    process.stderr.write(`forcing: removing the containers of ${what} now\n`);
    void import('../executor/docker/leftovers.js')
      .then(async ({ removeLeftovers }) => {
        const docker = (await import('../executor/docker/engine.js')).connectDocker();
        await Promise.allSettled(jobIds().map((id) => removeLeftovers(docker, id)));
      })
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
