import { PolicyUnavailableError, type PolicyClient, type UserProfile } from '../lambda/policy-contract.ts';
import type { LoginChange, LoginChanges } from './change-feed.ts';
import { SmtpError } from './smtp-error.ts';
import { suspendedReply } from './suspension-reply.ts';

export interface SessionStandingsOptions {
  readonly hostname: string;
  /** Asked `confirmSession`; never through the permit cache (it does not cache that question). */
  readonly policy: PolicyClient;
  /** Whom a suspended user is told to ask (SUSPENSION_CONTACT). */
  readonly suspensionContact: string;
  /** The change feed; absent, sessions are never confirmed again (only the permit cache's TTL bounds staleness). */
  readonly changes?: LoginChanges;
}

interface Standing {
  readonly login: string;
  /** Raised each time the feed says the login changed. */
  revision: number;
  /** The revision the last confirmation covered. */
  confirmed: number;
}

/**
 * Whether each authenticated session still stands, Postfix's per-MAIL lookup
 * of smtpd_sender_login_maps made cheap: a session is confirmed with the
 * policy (`confirmSession`, uncached) only when the change feed said its
 * user changed, or while the feed is not current; otherwise it costs nothing.
 * The hooks ask at each MAIL FROM and again right before a message goes to
 * SES, so a revocation that lands during DATA still stops that message.
 *
 * Replies for a session that no longer stands:
 * - disabled, removed, password set again, client network no longer allowed:
 *   `421 4.7.0` and the connection closes; the client's retry logs in afresh
 *   and meets the usual `535`;
 * - suspended: `550 5.7.1` with the reason and whom to ask (suspension-reply.ts);
 * - the policy cannot be reached: `454 4.7.0` (nothing goes out unconfirmed).
 * A revoked sender grant needs no confirmation: its permits are dropped, so the
 * sender check asks the policy again and answers the usual `553 5.7.1`.
 */
export class SessionStandings {
  private readonly bySession = new Map<string, Standing>();

  constructor(private readonly options: SessionStandingsOptions) {
    options.changes?.subscribe((change) => this.markChanged(change));
  }

  /** A session authenticated as `login`. */
  track(sessionId: string, login: string): void {
    this.bySession.set(sessionId, { login, revision: 0, confirmed: 0 });
  }

  release(sessionId: string): void {
    this.bySession.delete(sessionId);
  }

  /**
   * The session's profile if it still stands (as it is now, when it had to be
   * asked: limits and settings changed meanwhile apply at once); throws the
   * SmtpError to answer otherwise.
   */
  async require(sessionId: string, user: UserProfile, clientAddress: string): Promise<UserProfile> {
    const standing = this.bySession.get(sessionId);
    if (!standing) return user;
    const current = this.options.changes?.isCurrent() ?? true;
    if (standing.revision === standing.confirmed && current) return user;
    const revision = standing.revision;
    let decision;
    try {
      decision = await this.options.policy.decide({
        action: 'confirmSession',
        login: user.login,
        clientAddress,
        passwordSetAt: user.passwordSetAt ?? '',
      });
    } catch (error) {
      if (error instanceof PolicyUnavailableError) {
        throw new SmtpError(454, '4.7.0', 'Temporary failure checking the account, try again later', error.cause, 'session-unavailable');
      }
      throw error;
    }
    if (decision.verdict === 'permit') {
      // A change that arrived while we asked is confirmed next time.
      standing.confirmed = Math.max(standing.confirmed, revision);
      return decision.user;
    }
    if (decision.reason === 'suspended') throw suspendedReply(decision.text, this.options.suspensionContact);
    throw new SmtpError(421, '4.7.0', `${this.options.hostname} Error: credentials no longer valid, closing connection`, undefined, `session-${decision.reason}`);
  }

  private markChanged(change: LoginChange): void {
    for (const standing of this.bySession.values()) {
      if (change === 'all' || change.has(standing.login)) standing.revision++;
    }
  }
}
