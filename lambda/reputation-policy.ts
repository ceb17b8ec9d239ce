import { z } from 'zod';
import type { ReputationThresholdSettings, StepRates, UserRestriction } from './user-store.ts';

/**
 * When a user's sending reputation earns a step, and which.
 *
 * SES reviews a whole account at a bounce rate of about 5 % and a complaint
 * rate of about 0.1 %, and may pause it. One user's stale list must never get
 * there for everybody, so each user is judged on their own: the rates are
 * hard bounces (what SES counts) and complaints per recipient sent, over the
 * last 24 hours and the last 7 days, once the window holds `minimumSent`
 * recipients (one bounce in three messages says nothing). Each rate has three
 * levels; the highest level any rate reaches in any window is the step:
 * warned (a log line, a metric, an alarm), throttled (messages per minute
 * cut), suspended (MAIL and logins refused until an operator reinstates).
 */

export type ReputationStep = 'none' | UserRestriction['state'];

const SEVERITY: Readonly<Record<ReputationStep, number>> = { none: 0, warned: 1, throttled: 2, suspended: 3 };

/** Whether `next` is a harsher step than `current`. */
export function isHarsher(next: ReputationStep, current: ReputationStep): boolean {
  return SEVERITY[next] > SEVERITY[current];
}

export interface ReputationThresholds {
  /** Recipients a window must hold before its rates are judged. */
  readonly minimumSent: number;
  readonly bounceRate: StepRates;
  readonly complaintRate: StepRates;
  /** What a throttled user is cut to. */
  readonly throttledMessagesPerMinute: number;
}

/** Defaults: suspension just below SES's review levels (4 % < 5 %, 0.08 % < 0.1 %), earlier steps at half and three quarters. */
export const DEFAULT_REPUTATION_THRESHOLDS: ReputationThresholds = {
  minimumSent: 100,
  bounceRate: { warn: 0.02, throttle: 0.03, suspend: 0.04 },
  complaintRate: { warn: 0.0004, throttle: 0.0006, suspend: 0.0008 },
  throttledMessagesPerMinute: 10,
};

const rate = z.number().min(0).max(1);
const stepRates = z
  .object({ warn: rate, throttle: rate, suspend: rate })
  .strict()
  .refine((r) => r.warn <= r.throttle && r.throttle <= r.suspend, 'warn <= throttle <= suspend');

/** The stage's thresholds as JSON (`REPUTATION_THRESHOLDS`), members optional. */
export const reputationThresholdsSchema = z
  .object({
    minimumSent: z.number().int().min(1).optional(),
    bounceRate: stepRates.optional(),
    complaintRate: stepRates.optional(),
    throttledMessagesPerMinute: z.number().int().min(1).optional(),
  })
  .strict();

/** Stage thresholds from `REPUTATION_THRESHOLDS` (JSON; absent: the defaults). Throws naming the bad field. */
export function stageThresholdsFrom(json: string | undefined): ReputationThresholds {
  if (!json) return DEFAULT_REPUTATION_THRESHOLDS;
  const parsed = reputationThresholdsSchema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new Error(`REPUTATION_THRESHOLDS: ${z.prettifyError(parsed.error)}`);
  return withOverrides(DEFAULT_REPUTATION_THRESHOLDS, parsed.data);
}

/** The stage's thresholds with one user's overrides on top. */
export function withOverrides(stage: ReputationThresholds, user: ReputationThresholdSettings | undefined): ReputationThresholds {
  if (!user) return stage;
  return {
    minimumSent: user.minimumSent ?? stage.minimumSent,
    bounceRate: { ...stage.bounceRate, ...user.bounceRate },
    complaintRate: { ...stage.complaintRate, ...user.complaintRate },
    throttledMessagesPerMinute: user.throttledMessagesPerMinute ?? stage.throttledMessagesPerMinute,
  };
}

/** Counts of one window, in recipients. */
export interface WindowCounts {
  readonly sent: number;
  readonly delivered: number;
  readonly hardBounces: number;
  readonly softBounces: number;
  readonly complaints: number;
  readonly rejects: number;
  readonly delays: number;
}

export const EMPTY_COUNTS: WindowCounts = { sent: 0, delivered: 0, hardBounces: 0, softBounces: 0, complaints: 0, rejects: 0, delays: 0 };

export const REPUTATION_WINDOWS = [
  { name: '24 h', hours: 24 },
  { name: '7 days', hours: 7 * 24 },
] as const;
export type WindowName = (typeof REPUTATION_WINDOWS)[number]['name'];

export type ReputationVerdict =
  | { readonly step: 'none' }
  | { readonly step: UserRestriction['state']; readonly reason: string };

/** The step a user's windows earn, with the reason of the worst rate. */
export function judgeReputation(windows: Readonly<Record<WindowName, WindowCounts>>, thresholds: ReputationThresholds): ReputationVerdict {
  let verdict: ReputationVerdict = { step: 'none' };
  for (const { name } of REPUTATION_WINDOWS) {
    const counts = windows[name];
    if (counts.sent < thresholds.minimumSent) continue;
    for (const [label, count, levels] of [
      ['bounce rate', counts.hardBounces, thresholds.bounceRate],
      ['complaint rate', counts.complaints, thresholds.complaintRate],
    ] as const) {
      const observed = count / counts.sent;
      const step = stepFor(observed, levels);
      if (step === 'none' || !isHarsher(step, verdict.step)) continue;
      const threshold = levels[step === 'warned' ? 'warn' : step === 'throttled' ? 'throttle' : 'suspend'];
      verdict = {
        step,
        reason: `${label} ${percent(observed)} over the last ${name} (${count} of ${counts.sent} recipients; ${step} at ${percent(threshold)})`,
      };
    }
  }
  return verdict;
}

function stepFor(observed: number, levels: StepRates): ReputationStep {
  if (observed >= levels.suspend) return 'suspended';
  if (observed >= levels.throttle) return 'throttled';
  if (observed >= levels.warn) return 'warned';
  return 'none';
}

/** A rate as people write it: `7.1 %`, `0.08 %`. */
export function percent(fraction: number): string {
  const value = fraction * 100;
  const digits = value >= 1 ? 1 : value >= 0.1 ? 2 : 3;
  return `${Number(value.toFixed(digits))} %`;
}
