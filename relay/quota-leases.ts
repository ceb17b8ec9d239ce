/**
 * Per-user allowances taken from a shared counter in leases and spent in
 * memory, so that a busy sender costs the counter one write per lease instead
 * of one per message.
 *
 * A lease is counted in the shared counter when it is taken (one conditional
 * write that refuses to pass the limit), so what all tasks spend together never
 * passes the limit. A lease belongs to one window: whatever is left of it when
 * the window ends is lost, not given back (giving back would cost a write, and
 * the counter's item expires anyway). The price of leasing is the opposite of
 * an overshoot: what a task leased and has not spent is not available to the
 * other tasks, so a user spreading mail over several tasks can be refused
 * before the limit by at most what the other tasks hold, (tasks − 1) × (the
 * largest lease − 1), and a task only ever holds what recent demand there asked
 * for (see the sizing below).
 *
 * A limit lowered within a window (an operator's change, a reputation
 * throttle) applies at once: what was leased under the higher limit is dropped,
 * and the next lease is judged against the lower one.
 *
 * Lease size adapts: the first lease of a window is what this task spent for
 * the user in the window before (at least 1), each further lease in the window
 * doubles, and none is larger than the lease cap (QUOTA_LEASE_MAX) or
 * LEASE_SHARE_OF_LIMIT of the limit.
 */

/** A lease is never more than this share of the user's limit, so small limits are not tied up in one task. */
export const LEASE_SHARE_OF_LIMIT = 1 / 8;

/** Takes `amount` from `user`'s shared counter of `window` if it stays within `limit`; true if taken. */
export type TakeShared = (user: string, window: string, amount: number, limit: number) => Promise<boolean>;

interface Lease {
  /** Leased and not yet spent. */
  remaining: number;
  /** Spent from leases in this window. */
  spent: number;
  /** Size of the next lease. */
  nextSize: number;
  /** The limit the lease was taken under. */
  limit: number;
  /** The smallest amount the shared counter refused in this window: it cannot fit later either (nothing is given back). */
  refusedFrom?: number;
  /** A lease being taken now; others wait for it rather than take their own. */
  renewal?: Promise<boolean>;
}

interface WindowLeases {
  readonly window: string;
  readonly leases: Map<string, Lease>;
}

export class QuotaLeases {
  #current: WindowLeases = { window: '', leases: new Map() };
  #previous: WindowLeases = this.#current;

  constructor(
    private readonly takeShared: TakeShared,
    /** The largest lease, whatever the limit. */
    private readonly leaseCap: number,
    /** The window now (e.g. `2026-12-05T17:20` for a minute); asked again after every wait. */
    private readonly currentWindow: () => string,
  ) {}

  /** The largest lease for a limit. */
  #maxLease(limit: number): number {
    return Math.max(1, Math.min(this.leaseCap, Math.floor(limit * LEASE_SHARE_OF_LIMIT)));
  }

  /**
   * Spends `amount` of `user`'s allowance in the current window, taking a
   * lease from the shared counter when what this task holds does not cover it.
   * False when the limit leaves no room for it. A failure to reach the counter
   * is thrown.
   */
  async spend(user: string, amount: number, limit: number): Promise<boolean> {
    for (;;) {
      const window = this.currentWindow();
      const lease = this.#lease(user, window);
      if (limit !== lease.limit) relimit(lease, limit);
      if (lease.refusedFrom !== undefined && amount >= lease.refusedFrom) return false;
      if (lease.remaining >= amount) {
        lease.remaining -= amount;
        lease.spent += amount;
        return true;
      }
      if (lease.renewal) {
        await lease.renewal.catch(() => undefined);
        continue;
      }
      lease.renewal = this.#renew(lease, user, window, amount, limit);
      try {
        if (!(await lease.renewal)) return false;
      } finally {
        lease.renewal = undefined;
      }
    }
  }

  async #renew(lease: Lease, user: string, window: string, amount: number, limit: number): Promise<boolean> {
    const wanted = Math.max(amount, Math.min(lease.nextSize, this.#maxLease(limit)));
    // Near the limit a full lease may not fit where the amount itself still does.
    for (const size of wanted > amount ? [wanted, amount] : [amount]) {
      if (await this.takeShared(user, window, size, limit)) {
        lease.remaining += size;
        lease.nextSize = Math.min(this.#maxLease(limit), lease.nextSize * 2);
        return true;
      }
    }
    lease.refusedFrom = Math.min(lease.refusedFrom ?? amount, amount);
    return false;
  }

  /** The user's lease in `window`; a new window starts empty and forgets the one before last. */
  #lease(user: string, window: string): Lease {
    if (window !== this.#current.window) {
      this.#previous = this.#current;
      this.#current = { window, leases: new Map() };
    }
    let lease = this.#current.leases.get(user);
    if (!lease) {
      const before = this.#previous.leases.get(user);
      lease = { remaining: 0, spent: 0, nextSize: Math.max(1, before?.spent ?? 1), limit: Number.POSITIVE_INFINITY };
      this.#current.leases.set(user, lease);
    }
    return lease;
  }
}

/**
 * The user's limit changed within the window: a lower one voids what was
 * leased under the higher (it would overshoot the new limit); a higher one
 * may have room for what the counter refused before.
 */
function relimit(lease: Lease, limit: number): void {
  if (limit < lease.limit) lease.remaining = 0;
  else delete lease.refusedFrom;
  lease.limit = limit;
}
