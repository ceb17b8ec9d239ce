import { judgeReputation, isHarsher, withOverrides, type ReputationThresholds, type ReputationVerdict } from './reputation-policy.ts';
import type { ReputationStore } from './reputation-store.ts';
import { InvalidSesEventError, parseSesEvent, type SesDeliveryEvent } from './ses-event.ts';
import type { UserStore } from './user-store.ts';

/** Who the reputation function writes as, in a restriction's `by`. */
export const REPUTATION_ACTOR = 'reputation';

/** Lines the reputation function logs; never a recipient address or message content. */
export interface ReputationLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface ReputationHandlerDeps {
  readonly reputation: ReputationStore;
  readonly users: UserStore;
  readonly thresholds: ReputationThresholds;
  readonly log: ReputationLog;
  /** Called for every step a user reaches (warned and up), for the `ReputationSteps` metric. */
  readonly onStep?: (step: ReputationVerdict['step']) => void;
  readonly now?: () => Date;
}

/** The part of an EventBridge event the function reads: SES's record is its `detail`. */
export interface EventBridgeSesEvent {
  readonly id?: string;
  readonly 'detail-type'?: string;
  readonly source?: string;
  readonly detail: unknown;
}

export type ReputationOutcome =
  | { readonly outcome: 'ignored'; readonly why: string }
  | { readonly outcome: 'counted' | 'duplicate'; readonly verdict?: ReputationVerdict };

/**
 * The reputation function's logic, independent of how it is reached: the
 * Lambda entry calls it for each EventBridge event, and the local SES
 * stand-in calls it in-process.
 *
 * Per event: count it once (duplicates are recognised by content), then, for
 * bounces and complaints (the only events that can raise a rate), judge the
 * user and put a harsher restriction on them if their rates earned one.
 * Judging again on a duplicate is harmless (steps only go up) and repairs a
 * judgement that failed after its event was counted. A restriction stays
 * until an operator lifts it; from then on only the hours after the
 * reinstatement count, so that the old bounces do not suspend them again.
 *
 * Throws when the store failed (EventBridge retries, then the dead-letter
 * queue); an event that is not an SES sending event is ignored and logged.
 */
export function createReputationHandler(deps: ReputationHandlerDeps) {
  const now = deps.now ?? (() => new Date());

  async function judge(event: SesDeliveryEvent & { userId: string }): Promise<ReputationVerdict | undefined> {
    const login = await deps.users.loginOfUserId(event.userId);
    const user = login ? await deps.users.getUser(login) : undefined;
    if (!login || !user || user.userId !== event.userId) {
      deps.log.warn({ event: 'reputation-unknown-user', relayUser: event.userId, sesMessageId: event.sesMessageId }, 'event for a user id that names no user (removed?)');
      return undefined;
    }
    const at = now();
    let state = await deps.reputation.getState(event.userId);
    if (state && state.step !== 'none' && !user.restriction) {
      // Reputation restricted the user and the restriction is gone: an operator reinstated them.
      state = { ...state, step: 'none', countFrom: at.toISOString(), updatedAt: at.toISOString() };
      await deps.reputation.putState(state);
      deps.log.info({ event: 'reputation-reinstated', login, relayUser: event.userId }, `reputation: ${login} was reinstated; counting starts again`);
    }
    const windows = await deps.reputation.windows(event.userId, at, state?.countFrom);
    const verdict = judgeReputation(windows, withOverrides(deps.thresholds, user.settings.reputation));
    if (verdict.step === 'none') return verdict;
    deps.onStep?.(verdict.step);
    const current = user.restriction?.state ?? 'none';
    if (!isHarsher(verdict.step, current)) return verdict;
    const thresholds = withOverrides(deps.thresholds, user.settings.reputation);
    await deps.users.restrictUser(login, {
      state: verdict.step,
      reason: verdict.reason,
      ...(verdict.step === 'throttled' ? { messagesPerMinute: thresholds.throttledMessagesPerMinute } : {}),
      since: at.toISOString(),
      by: REPUTATION_ACTOR,
    });
    await deps.reputation.putState({
      userId: event.userId,
      login,
      step: verdict.step,
      reason: verdict.reason,
      ...(state?.countFrom ? { countFrom: state.countFrom } : {}),
      updatedAt: at.toISOString(),
    });
    deps.log.warn(
      { event: 'reputation-step', login, relayUser: event.userId, step: verdict.step, from: current, reason: verdict.reason, windows },
      `reputation: ${login} ${verdict.step}: ${verdict.reason}`,
    );
    return verdict;
  }

  return async function handleSesEvent(input: EventBridgeSesEvent): Promise<ReputationOutcome> {
    let event: SesDeliveryEvent;
    try {
      event = parseSesEvent(input?.detail);
    } catch (error) {
      if (!(error instanceof InvalidSesEventError)) throw error;
      deps.log.warn({ event: 'reputation-ignored', eventBridgeId: input?.id, detailType: input?.['detail-type'], problem: error.message }, 'event ignored');
      return { outcome: 'ignored', why: error.message };
    }
    const fresh = await deps.reputation.record(event, now());
    if (!event.userId) {
      deps.log.info({ event: 'reputation-unattributed', sesMessageId: event.sesMessageId, type: event.type }, 'event without a relay-user tag: trail kept, nobody counted');
      return { outcome: fresh ? 'counted' : 'duplicate' };
    }
    const verdict = event.type === 'Bounce' || event.type === 'Complaint' ? await judge({ ...event, userId: event.userId }) : undefined;
    return { outcome: fresh ? 'counted' : 'duplicate', ...(verdict ? { verdict } : {}) };
  };
}
