/**
 * The failure of one connection attempt, which every wait inside the attempt (a spool read,
 * 'drain', new output, the handshake) must give up on at once.
 *
 * Why not `Promise.race([wait, failed])`: every race adds a reaction to the long-lived `failed`
 * promise, and that reaction keeps the race's result reachable until `failed` settles — so an
 * attempt that sent 200 MB kept every spool read it ever made (256 KiB each) in memory until it
 * ended. Here each wait registers a listener and removes it the moment the wait settles, so
 * nothing an attempt has already sent stays reachable.
 */
export class AttemptFailure {
  private error: Error | undefined;
  private readonly listeners = new Set<(err: Error) => void>();

  /** Fails the attempt (the first error wins); every pending and later wait rejects with it. */
  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const l of listeners) l(err);
  }

  get failed(): boolean {
    return this.error !== undefined;
  }

  /** `wait`'s outcome, or the attempt's failure if that comes first. */
  race<T>(wait: Promise<T>): Promise<T> {
    const error = this.error;
    if (error) {
      wait.catch(() => undefined);
      return Promise.reject(error);
    }
    return new Promise<T>((resolve, reject) => {
      this.listeners.add(reject);
      wait.then(
        (value) => {
          this.listeners.delete(reject);
          resolve(value);
        },
        (err: unknown) => {
          this.listeners.delete(reject);
          reject(err);
        },
      );
    });
  }
}
