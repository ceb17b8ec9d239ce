import {
  ConditionalCheckFailedException,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { SmtpError } from './smtp-error.ts';

export interface SendingLimits {
  readonly messagesPerMinute?: number;
  readonly recipientsPerDay?: number;
}

/**
 * Per-user sending limits, counted in DynamoDB so that every task shares them
 * and they survive restarts. Each count is one atomic UpdateItem whose
 * condition refuses the increment at the limit, so concurrent sessions on
 * different tasks cannot overshoot it.
 *
 * Counters table: `pk` = `USER#<login>`, `sk` = `MINUTE#<yyyy-mm-ddThh:mm>` or
 * `DAY#<yyyy-mm-dd>` (UTC), attribute `count`, and `expiresAt` (epoch seconds,
 * the table's TTL attribute) so old windows delete themselves.
 *
 * A message counts when it is attempted (MAIL for messages, end of DATA for
 * recipients), not when SES accepts it: a client retrying failures is still
 * sending. A counter that cannot be reached does not stop mail (the limits
 * guard against abuse, they are not authentication); the failure is logged.
 */
export class SendingQuota {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Counts one message against the user's per-minute limit; throws `450 4.7.1` over it. */
  async admitMessage(login: string, limits: SendingLimits): Promise<void> {
    if (!limits.messagesPerMinute) return;
    const now = this.now();
    const minute = now.toISOString().slice(0, 16);
    await this.add(login, `MINUTE#${minute}`, 1, limits.messagesPerMinute, epochSeconds(now) + 120, () =>
      new SmtpError(450, '4.7.1', `Error: sending rate limit reached (${limits.messagesPerMinute} messages a minute), try again later`, undefined, 'rate-messages'),
    );
  }

  /** Counts the message's recipients against the user's daily limit; throws `450 4.7.1` over it. */
  async admitRecipients(login: string, recipients: number, limits: SendingLimits): Promise<void> {
    if (!limits.recipientsPerDay) return;
    const now = this.now();
    const day = now.toISOString().slice(0, 10);
    await this.add(login, `DAY#${day}`, recipients, limits.recipientsPerDay, epochSeconds(now) + 2 * 86_400, () =>
      new SmtpError(450, '4.7.1', `Error: daily recipient limit reached (${limits.recipientsPerDay} recipients a day), try again tomorrow`, undefined, 'rate-recipients'),
    );
  }

  private async add(login: string, sk: string, amount: number, limit: number, expiresAt: number, overLimit: () => SmtpError): Promise<void> {
    if (amount > limit) throw overLimit();
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `USER#${login}` }, sk: { S: sk } },
          UpdateExpression: 'ADD #count :amount SET expiresAt = :expiresAt',
          ConditionExpression: 'attribute_not_exists(#count) OR #count <= :room',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: {
            ':amount': { N: String(amount) },
            ':room': { N: String(limit - amount) },
            ':expiresAt': { N: String(expiresAt) },
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw overLimit();
      throw new QuotaUnavailableError(error);
    }
  }
}

/** The counters could not be reached; the caller logs it and lets the mail through. */
export class QuotaUnavailableError extends Error {
  constructor(readonly cause: unknown) {
    super('sending quota unavailable');
    this.name = 'QuotaUnavailableError';
  }
}

function epochSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
