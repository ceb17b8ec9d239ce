import { createHmac, randomBytes } from 'node:crypto';
import type { PolicyClient, PolicyDecision, PolicyRequest } from '../lambda/policy-contract.ts';

export interface CachingPolicyClientOptions {
  /**
   * How long a permit is served from memory, counted from the decision that
   * made it (not from its last use, so a busy user is asked again at least this
   * often). 0 turns the cache off.
   */
  readonly ttlMs: number;
  /** Permits held at most; the least recently used goes first. @default 10000 */
  readonly maxEntries?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/** Hits and misses since start, for metrics. */
export interface PolicyCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
}

interface Entry {
  readonly decision: PolicyDecision<PolicyRequest>;
  readonly expiresAt: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * Remembers the policy's permits for a short while, so that a user who sends
 * again within the TTL costs no Lambda call and no slow password hash: most
 * clients open a fresh connection, AUTH, send one message and QUIT.
 *
 * What is cached, and why it is safe:
 * - only `permit` decisions; a refusal or a failure (PolicyUnavailableError)
 *   always goes to the policy again, so a wrong password is never answered from
 *   memory and the policy's own failure accounting sees every attempt;
 * - `authenticate` is keyed by login, client address and an HMAC-SHA256 of the
 *   password under a key made at random when the process starts: the cache
 *   holds nothing that would let anyone log in, and only the very same
 *   credentials from the same address find an entry;
 * - `authorizeSender` is keyed by the authenticated login and the sender.
 *
 * The price is staleness: a changed password, a disabled user or a revoked
 * grant takes effect within the TTL (POLICY_CACHE_SECONDS, 60 s by default),
 * per relay task. Identical questions asked at the same time share one call.
 */
export class CachingPolicyClient implements PolicyClient {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<PolicyDecision<PolicyRequest>>>();
  private readonly hmacKey = randomBytes(32);
  private readonly maxEntries: number;
  private readonly now: () => number;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly inner: PolicyClient,
    private readonly options: CachingPolicyClientOptions,
  ) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.now = options.now ?? Date.now;
  }

  async decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>> {
    if (this.options.ttlMs <= 0) return this.inner.decide(request);
    const key = this.keyOf(request);
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      if (entry.expiresAt > this.now()) {
        this.entries.set(key, entry); // most recently used goes last
        this.hits++;
        return entry.decision as PolicyDecision<R>;
      }
    }
    this.misses++;
    const inFlight = this.pending.get(key);
    if (inFlight) return (await inFlight) as PolicyDecision<R>;

    const asked = this.inner.decide(request) as Promise<PolicyDecision<PolicyRequest>>;
    this.pending.set(key, asked);
    try {
      const decision = await asked;
      if (decision.verdict === 'permit') this.remember(key, decision);
      return decision as PolicyDecision<R>;
    } finally {
      this.pending.delete(key);
    }
  }

  stats(): PolicyCacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.entries.size };
  }

  private remember(key: string, decision: PolicyDecision<PolicyRequest>): void {
    this.entries.set(key, { decision, expiresAt: this.now() + this.options.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  private keyOf(request: PolicyRequest): string {
    switch (request.action) {
      case 'authenticate': {
        const secret = createHmac('sha256', this.hmacKey).update(request.password, 'utf8').digest('base64');
        return JSON.stringify(['authenticate', request.login, request.clientAddress, secret]);
      }
      case 'authorizeSender':
        return JSON.stringify(['authorizeSender', request.login, request.sender]);
    }
  }
}
