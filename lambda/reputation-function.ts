/**
 * Reputation function: counts SES's sending events per relay user and puts a
 * warning, a throttle or a suspension on users whose bounce or complaint rate
 * endangers the shared SES account.
 *
 * SECURITY: invoked only by EventBridge, for SES events of the relay's
 * configuration sets. Reads and writes its own reputation table; in the users
 * table it reads a user (and the user-id pointer) and writes only the user's
 * restriction. Logs user ids, logins and SES message ids, never recipient
 * addresses or message content. Events it cannot read are logged and dropped;
 * store failures throw, so EventBridge retries and then parks the event in the
 * dead-letter queue.
 *
 * STANDARDS: Amazon SES event publishing records (eventType, mail, bounce,
 * complaint, delivery, deliveryDelay, reject) inside EventBridge events
 * (source `aws.ses`).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createReputationHandler, type EventBridgeSesEvent } from './reputation-handler.ts';
import { stageThresholdsFrom } from './reputation-policy.ts';
import { ReputationStore } from './reputation-store.ts';
import { UserStore } from './user-store.ts';

const { USERS_TABLE, REPUTATION_TABLE, REPUTATION_THRESHOLDS, MESSAGE_TTL_DAYS, METRICS_NAMESPACE, STAGE } = process.env;
if (!USERS_TABLE || !REPUTATION_TABLE) throw new Error('USERS_TABLE and REPUTATION_TABLE must be set');

const client = new DynamoDBClient({});
const line = (level: 'INFO' | 'WARN', fields: Record<string, unknown>, message: string) =>
  process.stdout.write(`${JSON.stringify({ level, msg: message, ...fields })}\n`);

// Created once per execution environment, reused across invocations.
const handle = createReputationHandler({
  reputation: new ReputationStore(client, REPUTATION_TABLE, MESSAGE_TTL_DAYS ? { messageTtlDays: Number(MESSAGE_TTL_DAYS) } : {}),
  users: new UserStore(client, USERS_TABLE),
  thresholds: stageThresholdsFrom(REPUTATION_THRESHOLDS),
  log: { info: (fields, message) => line('INFO', fields, message), warn: (fields, message) => line('WARN', fields, message) },
  // CloudWatch Embedded Metric Format, straight to stdout: the runtime's JSON log
  // format wraps console.* output, which EMF would no longer recognise.
  onStep: (step) =>
    process.stdout.write(
      `${JSON.stringify({
        _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE ?? 'SubmissionRelay', Dimensions: [['Stage'], ['Stage', 'Step']], Metrics: [{ Name: 'ReputationSteps', Unit: 'Count' }] }] },
        Stage: STAGE ?? 'dev',
        Step: step,
        ReputationSteps: 1,
      })}\n`,
    ),
});

export async function handler(event: EventBridgeSesEvent): Promise<void> {
  await handle(event);
}
