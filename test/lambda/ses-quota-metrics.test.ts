import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sesQuotaMetrics } from '../../lambda/ses-quota/ses-quota-metrics.ts';

describe('SES quota metrics (EMF)', () => {
  const target = { namespace: 'SubmissionRelay', stage: 'prod', timestamp: 1_800_000_000_000 };

  test('sent in the last 24 hours against the 24-hour maximum, as a percentage, dimension Stage', () => {
    const document = sesQuotaMetrics({ Max24HourSend: 50_000, SentLast24Hours: 41_234 }, target) as Record<string, any>;
    assert.equal(document.SesQuotaUsedPercent, 82.47);
    assert.equal(document.SesSentLast24Hours, 41_234);
    assert.equal(document.SesMax24HourSend, 50_000);
    assert.equal(document.Stage, 'prod');
    assert.deepEqual(document._aws, {
      Timestamp: 1_800_000_000_000,
      CloudWatchMetrics: [
        {
          Namespace: 'SubmissionRelay',
          Dimensions: [['Stage']],
          Metrics: [
            { Name: 'SesQuotaUsedPercent', Unit: 'Percent' },
            { Name: 'SesSentLast24Hours', Unit: 'Count' },
            { Name: 'SesMax24HourSend', Unit: 'Count' },
          ],
        },
      ],
    });
  });

  test('an unlimited quota (-1) or none reported counts as 0 % used', () => {
    assert.equal((sesQuotaMetrics({ Max24HourSend: -1, SentLast24Hours: 10 }, target) as Record<string, number>).SesQuotaUsedPercent, 0);
    assert.equal((sesQuotaMetrics({}, target) as Record<string, number>).SesQuotaUsedPercent, 0);
  });
});
