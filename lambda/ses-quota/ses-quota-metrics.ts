/** Names of the quota metrics; lib/ alarms on them. */
export const SES_QUOTA_METRIC_NAMES = {
  usedPercent: 'SesQuotaUsedPercent',
  sentLast24Hours: 'SesSentLast24Hours',
  max24HourSend: 'SesMax24HourSend',
} as const;

/**
 * One EMF document with the account's sending in the last 24 hours, its
 * 24-hour maximum and the share used, dimension [Stage]. An unlimited quota
 * (SES reports -1) counts as 0 % used.
 */
export function sesQuotaMetrics(
  quota: { readonly Max24HourSend?: number; readonly SentLast24Hours?: number },
  target: { readonly namespace: string; readonly stage: string; readonly timestamp: number },
): Record<string, unknown> {
  const max = quota.Max24HourSend ?? 0;
  const sent = quota.SentLast24Hours ?? 0;
  const usedPercent = max > 0 ? Math.round((sent / max) * 10_000) / 100 : 0;
  return {
    _aws: {
      Timestamp: target.timestamp,
      CloudWatchMetrics: [
        {
          Namespace: target.namespace,
          Dimensions: [['Stage']],
          Metrics: [
            { Name: SES_QUOTA_METRIC_NAMES.usedPercent, Unit: 'Percent' },
            { Name: SES_QUOTA_METRIC_NAMES.sentLast24Hours, Unit: 'Count' },
            { Name: SES_QUOTA_METRIC_NAMES.max24HourSend, Unit: 'Count' },
          ],
        },
      ],
    },
    Stage: target.stage,
    [SES_QUOTA_METRIC_NAMES.usedPercent]: usedPercent,
    [SES_QUOTA_METRIC_NAMES.sentLast24Hours]: sent,
    [SES_QUOTA_METRIC_NAMES.max24HourSend]: max,
  };
}
