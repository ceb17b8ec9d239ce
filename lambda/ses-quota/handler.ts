/**
 * SES quota probe: publishes how much of the account's 24-hour sending quota
 * is used, as CloudWatch Embedded Metric Format on stdout (no PutMetricData
 * permission needed), every few minutes from a schedule.
 *
 * SECURITY: invoked by an EventBridge schedule only; calls ses:GetAccount
 * (read-only, account-wide: it supports no resource scoping) and nothing else.
 */
import { GetAccountCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { sesQuotaMetrics } from './ses-quota-metrics.ts';

const namespace = process.env.METRICS_NAMESPACE;
const stage = process.env.STAGE;
if (!namespace || !stage) throw new Error('METRICS_NAMESPACE and STAGE must be set');

const ses = new SESv2Client({});

export async function handler(): Promise<void> {
  const account = await ses.send(new GetAccountCommand({}));
  // EMF is read from the raw log line: write it past the runtime's console formatting.
  process.stdout.write(`${JSON.stringify(sesQuotaMetrics(account.SendQuota ?? {}, { namespace: namespace!, stage: stage!, timestamp: Date.now() }))}\n`);
}
