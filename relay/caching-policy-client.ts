import { createHmac, randomBytes } from 'node:crypto';
import type { PolicyClient, PolicyDecision, PolicyRequest } from '../lambda/policy-contract.ts';
import type { LoginChange, LoginChanges } from './change-feed.ts';

export interface CachingPolicyClientOptions {
  /**
   * How long a permit is served from memory, counted from the decision that
   * made it (not from its last use, so a busy user is asked again at least this
   * often). 0 turns the cache off.
   */
  readonly ttlMs: number;
  /** Permits held at most; the least recently used goes first. @default 10000 */
  readonly maxEntries?: number;
  /**
   * Permits held at most for one login; past it that login's own least
   * recently used goes, so that one user (with a domain grant, say, and a new
   * sender address in every message) cannot push everyone else's out.
   * @default 100
   */
  readonly maxEntriesPerLogin?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
  /**
   * The users table's change feed (relay/change-feed.ts): its changes drop the
   * permits of the logins that changed, and while it is not current remembered
   * permits are not used. Absent, only the TTL bounds staleness.
   */
  readonly changes?: LoginChanges;
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
  /** The canonical login the permit is for, so that a change of the user drops it. */
  readonly login: string;
}

interface Pending {
  readonly decision: Promise<PolicyDecision<PolicyRequest>>;
  readonly generation: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_MAX_ENTRIES_PER_LOGIN = 100;

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
 * - `authorizeSender` is keyed by the authenticated login and the sender;
 * - one login holds at most `maxEntriesPerLogin` permits, so no user can flush
 *   the cache for the others;
 * - `confirmSession` is never cached: it is the question asked because
 *   something changed.
 *
 * Staleness is bounded twice. The change feed (relay/change-feed.ts) calls
 * `forget` with the logins that changed within seconds of the change, and
 * while it cannot be read the cache is bypassed. The
 * TTL (POLICY_CACHE_SECONDS, 60 s by default) stays as a backstop. A decision
 * that was asked before a `forget` and answered after it may predate the
 * change, so it is handed to its caller but not remembered. Identical
 * questions asked at the same time share one call.
 */
export class CachingPolicyClient implements PolicyClient {
  private readonly entries = new Map<string, Entry>();
  /** Each login's keys, least recently used first. */
  private readonly keysByLogin = new Map<string, Set<string>>();
  private readonly pending = new Map<string, Pending>();
  /** Raised by every `forget`: answers to questions asked before it are not remembered. */
  private generation = 0;
  private readonly hmacKey = randomBytes(32);
  private readonly maxEntries: number;
  private readonly maxEntriesPerLogin: number;
  private readonly now: () => number;
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly inner: PolicyClient,
    private readonly options: CachingPolicyClientOptions,
  ) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.maxEntriesPerLogin = options.maxEntriesPerLogin ?? DEFAULT_MAX_ENTRIES_PER_LOGIN;
    this.now = options.now ?? Date.now;
    options.changes?.subscribe((change) => this.forget(change));
  }

  async decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>> {
    const key = this.keyOf(request);
    if (this.options.ttlMs <= 0 || key === undefined || !(this.options.changes?.isCurrent() ?? true)) return this.inner.decide(request);
    const entry = this.entries.get(key);
    if (entry) {
      this.drop(key);
      if (entry.expiresAt > this.now()) {
        this.keep(key, entry); // most recently used goes last
        this.hits++;
        return entry.decision as PolicyDecision<R>;
      }
    }
    this.misses++;
    const inFlight = this.pending.get(key);
    if (inFlight?.generation === this.generation) return (await inFlight.decision) as PolicyDecision<R>;

    const generation = this.generation;
    const asked = this.inner.decide(request) as Promise<PolicyDecision<PolicyRequest>>;
    this.pending.set(key, { decision: asked, generation });
    try {
      const decision = await asked;
      if (decision.verdict === 'permit' && generation === this.generation) this.remember(key, decision, loginOf(request, decision));
      return decision as PolicyDecision<R>;
    } finally {
      if (this.pending.get(key)?.decision === asked) this.pending.delete(key);
    }
  }

  /** Drops every permit of the logins that changed (all of them for `all`). */
  forget(change: LoginChange): void {
    this.generation++;
    if (change === 'all') {
      this.entries.clear();
      this.keysByLogin.clear();
      return;
    }
    for (const login of change) for (const key of this.keysByLogin.get(login) ?? []) this.drop(key);
  }

  stats(): PolicyCacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.entries.size };
  }

  private remember(key: string, decision: PolicyDecision<PolicyRequest>, login: string): void {
    this.drop(key);
    this.keep(key, { decision, expiresAt: this.now() + this.options.ttlMs, login });
    const ownKeys = this.keysByLogin.get(login);
    while (ownKeys && ownKeys.size > this.maxEntriesPerLogin) this.drop(ownKeys.values().next().value as string);
    while (this.entries.size > this.maxEntries) this.drop(this.entries.keys().next().value as string);
  }

  private keep(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    const ownKeys = this.keysByLogin.get(entry.login) ?? new Set<string>();
    ownKeys.add(key);
    this.keysByLogin.set(entry.login, ownKeys);
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const ownKeys = this.keysByLogin.get(entry.login);
    ownKeys?.delete(key);
    if (ownKeys?.size === 0) this.keysByLogin.delete(entry.login);
  }

  /** The cache key of a question whose permits may be remembered; none for the others. */
  private keyOf(request: PolicyRequest): string | undefined {
    switch (request.action) {
      case 'authenticate': {
        const secret = createHmac('sha256', this.hmacKey).update(request.password, 'utf8').digest('base64');
        return JSON.stringify(['authenticate', request.login, request.clientAddress, secret]);
      }
      case 'authorizeSender':
        return JSON.stringify(['authorizeSender', request.login, request.sender]);
      case 'confirmSession':
        return undefined;
    }
  }
}

/** The canonical login a permit is for: AUTH's request holds the login as the client typed it. */
function loginOf(request: PolicyRequest, decision: PolicyDecision<PolicyRequest>): string {
  return 'user' in decision ? decision.user.login : request.login;
}
