/**
 * Who may start an SSH handshake with a job, as OpenSSH's MaxStartups and PerSourcePenalties
 * bound it: a few connections at a time that have not logged in yet (the rest are dropped at
 * once, before any cryptography), and a source address whose connections keep ending without a
 * login is refused for a while. A port in 64535–65535 of a public address is scanned all day;
 * neither the agent's memory nor the job's output may grow with it.
 */

export interface AdmissionLimits {
  /** connections not logged in yet, at most; more are dropped at once. Default 10 (OpenSSH's MaxStartups). */
  maxStartups: number;
  /** connections that ended without a login, per source address, within `failureWindowMs`… Default 10. */
  maxFailures: number;
  /** Default 60 s. */
  failureWindowMs: number;
  /** …after which the address is refused this long. Default 60 s. */
  penaltyMs: number;
}

export const DEFAULT_ADMISSION: AdmissionLimits = { maxStartups: 10, maxFailures: 10, failureWindowMs: 60_000, penaltyMs: 60_000 };

/** At most this many addresses are remembered: an attack from many addresses cannot grow the table. */
const MAX_ADDRESSES = 4096;

export type Verdict = 'admit' | 'busy' | 'penalised';

export class Admission {
  private starting = 0;
  /** failure times per address (the window's), and until when an address is refused */
  private readonly failures = new Map<string, number[]>();
  private readonly refusedUntil = new Map<string, number>();

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a new connection from `address` may start; 'admit' counts it as starting. */
  admit(address: string): Verdict {
    const until = this.refusedUntil.get(address);
    if (until !== undefined) {
      if (until > this.now()) return 'penalised';
      this.refusedUntil.delete(address);
    }
    if (this.starting >= this.limits.maxStartups) return 'busy';
    this.starting++;
    return 'admit';
  }

  /** An admitted connection logged in, or ended: it no longer counts as starting. */
  settled(): void {
    this.starting = Math.max(0, this.starting - 1);
  }

  /** An admitted connection ended without a login. True when `address` is now refused for a while. */
  failed(address: string): boolean {
    const now = this.now();
    const recent = (this.failures.get(address) ?? []).filter((t) => t > now - this.limits.failureWindowMs);
    recent.push(now);
    this.failures.delete(address);
    if (recent.length >= this.limits.maxFailures) {
      this.refusedUntil.set(address, now + this.limits.penaltyMs);
      this.forgetOldest(this.refusedUntil);
      return true;
    }
    this.failures.set(address, recent);
    this.forgetOldest(this.failures);
    return false;
  }

  /** Connections starting now (for tests and logs). */
  get startingCount(): number {
    return this.starting;
  }

  private forgetOldest(table: Map<string, unknown>): void {
    // Maps keep insertion order: the first key is the one touched longest ago
    while (table.size > MAX_ADDRESSES) table.delete(table.keys().next().value as string);
  }
}
