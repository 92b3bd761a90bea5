/**
 * What both executors do when a running command is aborted: SIGTERM to its process group at
 * once, SIGKILL after the grace period, and — should a stray process keep the output open after
 * that — a last resort that stops waiting for it (closing the stream or channel).
 */
export interface AbortEscalation {
  /** whether the abort came (read after the command ended) */
  readonly aborted: boolean;
  /** stops listening and clears the timers; call once the command has ended */
  dispose(): void;
}

export function escalateOnAbort(
  abortSignal: AbortSignal | undefined,
  options: { signal(name: NodeJS.Signals): Promise<void>; killGraceMs: number; lastResort(): void; lastResortMs: number },
): AbortEscalation {
  const timers: NodeJS.Timeout[] = [];
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    void options.signal('SIGTERM').catch(() => undefined);
    timers.push(
      setTimeout(() => {
        void options.signal('SIGKILL').catch(() => undefined);
        timers.push(setTimeout(options.lastResort, options.lastResortMs).unref());
      }, options.killGraceMs).unref(),
    );
  };
  if (abortSignal?.aborted) onAbort();
  else abortSignal?.addEventListener('abort', onAbort, { once: true });
  return {
    get aborted() {
      return aborted;
    },
    dispose() {
      abortSignal?.removeEventListener('abort', onAbort);
      timers.forEach(clearTimeout);
    },
  };
}
