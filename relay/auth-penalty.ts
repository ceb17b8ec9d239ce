/**
 * Failed-AUTH bookkeeping per client address and per login, in the spirit of
 * Dovecot's auth penalty and Postfix's anvil: each failure within the window
 * doubles the delay before the next failure is answered, and past a threshold
 * the address (or login) is refused outright until the window has passed.
 *
 * It lives in the task's memory, like anvil on one host: a guesser spread over
 * tasks meets each task's limits. The per-login refusal also slows a guesser
 * who rotates addresses, at the price that such a guesser can keep the real
 * user out for one window; its threshold is set higher for that reason.
 */
export interface AuthPenaltyLimits {
  readonly windowMs: number;
  /** First delay; doubles with each further failure. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Failures from one address within the window before it is refused. */
  readonly refuseAddressAfter: number;
  /** Failures for one login within the window before it is refused. */
  readonly refuseLoginAfter: number;
  /** Entries kept at most; the oldest are forgotten first. */
  readonly maxEntries: number;
}

interface Tally {
  failures: number;
  since: number;
}

export class AuthPenalty {
  private readonly byAddress = new Map<string, Tally>();
  private readonly byLogin = new Map<string, Tally>();

  constructor(
    private readonly limits: AuthPenaltyLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when the address has failed too often to be let near AUTH. */
  refusesAddress(address: string): boolean {
    return this.count(this.byAddress, address) >= this.limits.refuseAddressAfter;
  }

  refusesLogin(login: string): boolean {
    return this.count(this.byLogin, login) >= this.limits.refuseLoginAfter;
  }

  /** Records a failure and returns how long to wait before answering it. */
  recordFailure(address: string, login: string): number {
    const failures = Math.max(this.bump(this.byAddress, address), this.bump(this.byLogin, login));
    return Math.min(this.limits.maxDelayMs, this.limits.baseDelayMs * 2 ** (failures - 1));
  }

  /** A success clears the login's tally (a typo is forgiven), not the address's. */
  recordSuccess(login: string): void {
    this.byLogin.delete(login);
  }

  private count(map: Map<string, Tally>, key: string): number {
    const tally = map.get(key);
    if (!tally) return 0;
    if (this.now() - tally.since > this.limits.windowMs) {
      map.delete(key);
      return 0;
    }
    return tally.failures;
  }

  private bump(map: Map<string, Tally>, key: string): number {
    const failures = this.count(map, key) + 1;
    const since = map.get(key)?.since ?? this.now();
    map.delete(key); // re-insert: Map order is our recency order
    map.set(key, { failures, since });
    if (map.size > this.limits.maxEntries) map.delete(map.keys().next().value as string);
    return failures;
  }
}
