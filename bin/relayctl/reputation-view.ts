import { REPUTATION_WINDOWS, stageThresholdsFrom, withOverrides, type WindowCounts, type WindowName } from '../../lambda/reputation-policy.ts';
import type { ReputationStore } from '../../lambda/reputation-store.ts';
import type { UserRecord, UserRestriction } from '../../lambda/user-store.ts';

/** One window as relayctl shows it: the counts (recipients) and the two rates SES judges. */
export interface WindowView extends WindowCounts {
  /** Hard bounces per recipient sent; null before anything was sent. */
  readonly bounceRate: number | null;
  readonly complaintRate: number | null;
}

/** A user's reputation as `user show` and `reputation` print it. */
export interface ReputationView {
  readonly login: string;
  readonly userId: string | null;
  /** `ok`, or the restriction's state. */
  readonly state: 'ok' | UserRestriction['state'];
  readonly restriction: UserRestriction | null;
  readonly windows: Readonly<Record<WindowName, WindowView>>;
  /**
   * How near the user is to suspension: the highest of their rates divided by
   * its suspension level, over both windows (1 = at the level). For sorting.
   */
  readonly risk: number;
}

const STATE_ORDER = { suspended: 0, throttled: 1, warned: 2, ok: 3 } as const;

/**
 * The reputation of one user from the table. Thresholds are the stage's as
 * `REPUTATION_THRESHOLDS` in relayctl's environment says (default: the
 * function's defaults), with the user's own overrides.
 */
export async function reputationView(user: UserRecord, reputation: ReputationStore, env: NodeJS.ProcessEnv = process.env): Promise<ReputationView> {
  const thresholds = withOverrides(stageThresholdsFrom(env.REPUTATION_THRESHOLDS), user.settings.reputation);
  const counts = user.userId ? await reputation.windows(user.userId) : undefined;
  const windows = {} as Record<WindowName, WindowView>;
  let risk = 0;
  for (const { name } of REPUTATION_WINDOWS) {
    const window = counts?.[name] ?? { sent: 0, delivered: 0, hardBounces: 0, softBounces: 0, complaints: 0, rejects: 0, delays: 0 };
    const rate = (count: number) => (window.sent > 0 ? count / window.sent : null);
    windows[name] = { ...window, bounceRate: rate(window.hardBounces), complaintRate: rate(window.complaints) };
    risk = Math.max(risk, (rate(window.hardBounces) ?? 0) / thresholds.bounceRate.suspend, (rate(window.complaints) ?? 0) / thresholds.complaintRate.suspend);
  }
  return {
    login: user.login,
    userId: user.userId ?? null,
    state: user.restriction?.state ?? 'ok',
    restriction: user.restriction ?? null,
    windows,
    risk: Number(risk.toFixed(4)),
  };
}

/** Restricted users first (suspended, throttled, warned), then by risk. */
export function byRisk(a: ReputationView, b: ReputationView): number {
  return STATE_ORDER[a.state] - STATE_ORDER[b.state] || b.risk - a.risk || a.login.localeCompare(b.login);
}

/** `24 h: 15 sent, 10 delivered, 5 hard / 0 soft bounces, 0 complaints, 0 rejects, 0 delayed; bounce rate 33.3 %, complaint rate 0 %` */
export function describeWindow(name: string, window: WindowView): string {
  return (
    `${name}: ${window.sent} sent, ${window.delivered} delivered, ${window.hardBounces} hard / ${window.softBounces} soft bounces, ` +
    `${window.complaints} complaints, ${window.rejects} rejects, ${window.delays} delayed; ` +
    `bounce rate ${rateText(window.bounceRate)}, complaint rate ${rateText(window.complaintRate)}`
  );
}

/** A rate as a percentage, `-` before anything was sent. */
export function rateText(value: number | null): string {
  return value === null ? '-' : `${Number((value * 100).toFixed(3))} %`;
}
