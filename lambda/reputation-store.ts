import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  paginateQuery,
  paginateScan,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { EMPTY_COUNTS, REPUTATION_WINDOWS, type ReputationStep, type WindowCounts, type WindowName } from './reputation-policy.ts';
import type { SesDeliveryEvent } from './ses-event.ts';

/**
 * The one module that reads and writes the reputation table (its own table:
 * the relay task, which writes the counters table, has no access to it, so a
 * task cannot rewrite anyone's reputation).
 *
 * Schema (string keys `pk` and `sk`; TTL attribute `expiresAt`, epoch seconds):
 *
 * | item           | pk                      | sk                    | other attributes |
 * |----------------|-------------------------|-----------------------|------------------|
 * | event marker   | `EVENT#<event key>`     | `EVENT`               | type, sesMessageId; expires after 7 days |
 * | hour of a user | `USER#<userId>`         | `HOUR#<yyyy-mm-ddThh>`| sent, delivered, hardBounces, softBounces, complaints, rejects, delays (recipients); expires 8 days after the hour |
 * | user state     | `USER#<userId>`         | `STATE`               | login, step, reason, countFrom, updatedAt |
 * | message        | `MSG#<SES message id>`  | `MSG`                 | userId, destination, messageIdHeader, sentAt, configurationSet, trail (list of {type, at, recipients, detail}); expires after the message TTL |
 * | Message-ID     | `MSGID#<header>`        | `MSGID`               | sesMessageIds (string set); same TTL |
 *
 * Idempotence without transactions: an event counts only after a conditional
 * put of its marker succeeded; if counting then fails the marker is deleted
 * again, so that the retry counts it. Every event of a message counts in the
 * hour the message was sent, so out-of-order events land in the same bucket.
 */

export interface ReputationStoreOptions {
  /** How long a message's trail is kept. @default 14 days */
  readonly messageTtlDays?: number;
}

export interface MessageTrailEntry {
  readonly type: string;
  readonly at: string;
  readonly recipients: readonly string[];
  readonly detail?: string;
}

export interface MessageRecord {
  readonly sesMessageId: string;
  readonly userId?: string;
  readonly sentAt: string;
  readonly destination: readonly string[];
  readonly messageIdHeader?: string;
  readonly configurationSet?: string;
  /** In the order the events happened (not the order they arrived). */
  readonly trail: readonly MessageTrailEntry[];
}

export interface ReputationState {
  readonly userId: string;
  readonly login: string;
  /** The step reputation last put on the user. */
  readonly step: ReputationStep;
  readonly reason?: string;
  /** Counting starts after this hour (set when an operator reinstates the user). */
  readonly countFrom?: string;
  readonly updatedAt: string;
}

const COUNT_FIELDS = ['sent', 'delivered', 'hardBounces', 'softBounces', 'complaints', 'rejects', 'delays'] as const satisfies readonly (keyof WindowCounts)[];
const EVENT_MARKER_DAYS = 7;
const HOUR_BUCKET_DAYS = 8;
const DAY_SECONDS = 86_400;

const eventKey = (key: string) => ({ pk: `EVENT#${key}`, sk: 'EVENT' });
const stateKey = (userId: string) => ({ pk: `USER#${userId}`, sk: 'STATE' });
const messageKey = (sesMessageId: string) => ({ pk: `MSG#${sesMessageId}`, sk: 'MSG' });
const headerKey = (header: string) => ({ pk: `MSGID#${header}`, sk: 'MSGID' });
/** `2026-12-05T17` */
const hourOf = (iso: string) => iso.slice(0, 13);

export class ReputationStore {
  private readonly messageTtlSeconds: number;

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    options: ReputationStoreOptions = {},
  ) {
    this.messageTtlSeconds = (options.messageTtlDays ?? 14) * DAY_SECONDS;
  }

  /**
   * Counts an event into its user's hour and the message's trail, once: a
   * second delivery of the same event (same key) changes nothing and
   * resolves `false`.
   */
  async record(event: SesDeliveryEvent, now = new Date()): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ ...eventKey(event.key), type: event.type, sesMessageId: event.sesMessageId, expiresAt: epoch(now) + EVENT_MARKER_DAYS * DAY_SECONDS }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    try {
      if (event.userId) await this.count(event.userId, event);
      await this.addToTrail(event, now);
    } catch (error) {
      await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: marshall(eventKey(event.key)) }));
      throw error;
    }
    return true;
  }

  /** The user's counts per window ending now, from the hour after `countFrom` on. */
  async windows(userId: string, now = new Date(), countFrom?: string): Promise<Record<WindowName, WindowCounts>> {
    const longest = Math.max(...REPUTATION_WINDOWS.map((window) => window.hours));
    const hours = await this.hours(userId, new Date(now.getTime() - (longest - 1) * 3_600_000), now);
    const result = {} as Record<WindowName, WindowCounts>;
    for (const window of REPUTATION_WINDOWS) {
      // The current hour and the window's hours before it.
      const first = hourOf(new Date(now.getTime() - (window.hours - 1) * 3_600_000).toISOString());
      const counted = hours.filter((bucket) => bucket.hour >= first && (!countFrom || bucket.hour > hourOf(countFrom)));
      result[window.name] = counted.reduce(addCounts, EMPTY_COUNTS);
    }
    return result;
  }

  async getState(userId: string): Promise<ReputationState | undefined> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall(stateKey(userId)), ConsistentRead: true }));
    return out.Item ? toState(unmarshall(out.Item)) : undefined;
  }

  async putState(state: ReputationState): Promise<void> {
    await this.client.send(
      new PutItemCommand({ TableName: this.tableName, Item: marshall({ ...stateKey(state.userId), ...state }, { removeUndefinedValues: true }) }),
    );
  }

  /** Every user reputation has judged (has a state item). */
  async listStates(): Promise<ReputationState[]> {
    const states: ReputationState[] = [];
    const pages = paginateScan(
      { client: this.client },
      { TableName: this.tableName, FilterExpression: 'sk = :state', ExpressionAttributeValues: { ':state': { S: 'STATE' } } },
    );
    for await (const page of pages) for (const item of page.Items ?? []) states.push(toState(unmarshall(item)));
    return states;
  }

  /** A message by its SES message id, or by its Message-ID header (possibly several SES messages). */
  async findMessages(id: string): Promise<MessageRecord[]> {
    const direct = await this.getMessage(id);
    if (direct) return [direct];
    const header = id.startsWith('<') ? id : `<${id}>`;
    for (const candidate of [...new Set([id, header])]) {
      const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall(headerKey(candidate)) }));
      const ids = out.Item ? [...((unmarshall(out.Item).sesMessageIds as Set<string> | undefined) ?? [])] : [];
      if (ids.length === 0) continue;
      const found = await Promise.all(ids.sort().map((sesMessageId) => this.getMessage(sesMessageId)));
      return found.filter((record): record is MessageRecord => record !== undefined);
    }
    return [];
  }

  private async getMessage(sesMessageId: string): Promise<MessageRecord | undefined> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall(messageKey(sesMessageId)), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const item = unmarshall(out.Item);
    const trail = ((item.trail as MessageTrailEntry[] | undefined) ?? []).slice().sort((a, b) => a.at.localeCompare(b.at));
    return {
      sesMessageId,
      ...(typeof item.userId === 'string' ? { userId: item.userId } : {}),
      sentAt: String(item.sentAt),
      destination: (item.destination as string[] | undefined) ?? [],
      ...(typeof item.messageIdHeader === 'string' ? { messageIdHeader: item.messageIdHeader } : {}),
      ...(typeof item.configurationSet === 'string' ? { configurationSet: item.configurationSet } : {}),
      trail,
    };
  }

  private async hours(userId: string, from: Date, to: Date): Promise<Array<WindowCounts & { hour: string }>> {
    const buckets: Array<WindowCounts & { hour: string }> = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        ExpressionAttributeValues: marshall({ ':pk': `USER#${userId}`, ':from': `HOUR#${hourOf(from.toISOString())}`, ':to': `HOUR#${hourOf(to.toISOString())}` }),
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const raw of page.Items ?? []) {
        const item = unmarshall(raw);
        const counts = Object.fromEntries(COUNT_FIELDS.map((field) => [field, Number(item[field] ?? 0)])) as unknown as WindowCounts;
        buckets.push({ ...counts, hour: String(item.sk).slice('HOUR#'.length) });
      }
    }
    return buckets;
  }

  private async count(userId: string, event: SesDeliveryEvent): Promise<void> {
    const increments = incrementsOf(event);
    const fields = COUNT_FIELDS.filter((field) => increments[field] > 0);
    if (fields.length === 0) return;
    const hour = hourOf(event.sentAt);
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: `USER#${userId}`, sk: `HOUR#${hour}` }),
        UpdateExpression: `ADD ${fields.map((field) => `${field} :${field}`).join(', ')} SET expiresAt = :expiresAt`,
        ExpressionAttributeValues: marshall({
          ...Object.fromEntries(fields.map((field) => [`:${field}`, increments[field]])),
          ':expiresAt': epoch(new Date(`${hour}:00:00Z`)) + HOUR_BUCKET_DAYS * DAY_SECONDS,
        }),
      }),
    );
  }

  private async addToTrail(event: SesDeliveryEvent, now: Date): Promise<void> {
    const expiresAt = epoch(now) + this.messageTtlSeconds;
    const entry: MessageTrailEntry = { type: event.type, at: event.occurredAt, recipients: event.recipients, ...(event.detail ? { detail: event.detail } : {}) };
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall(messageKey(event.sesMessageId)),
        UpdateExpression:
          'SET trail = list_append(if_not_exists(trail, :empty), :entry), sentAt = :sentAt, destination = :destination, expiresAt = :expiresAt' +
          (event.userId ? ', userId = :userId' : '') +
          (event.messageIdHeader ? ', messageIdHeader = :header' : '') +
          (event.configurationSet ? ', configurationSet = :configurationSet' : ''),
        ExpressionAttributeValues: marshall(
          {
            ':empty': [],
            ':entry': [entry],
            ':sentAt': event.sentAt,
            ':destination': event.destination,
            ':expiresAt': expiresAt,
            ':userId': event.userId,
            ':header': event.messageIdHeader,
            ':configurationSet': event.configurationSet,
          },
          { removeUndefinedValues: true },
        ),
      }),
    );
    // The Send event alone writes the way from the Message-ID: one write per message, not per event.
    if (event.messageIdHeader && event.type === 'Send') {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall(headerKey(event.messageIdHeader)),
          UpdateExpression: 'ADD sesMessageIds :id SET expiresAt = :expiresAt',
          ExpressionAttributeValues: { ':id': { SS: [event.sesMessageId] }, ':expiresAt': { N: String(expiresAt) } },
        }),
      );
    }
  }
}

/** What one event adds to its hour, in recipients. */
function incrementsOf(event: SesDeliveryEvent): WindowCounts {
  const n = event.recipients.length;
  switch (event.type) {
    case 'Send':
      return { ...EMPTY_COUNTS, sent: n };
    case 'Delivery':
      return { ...EMPTY_COUNTS, delivered: n };
    case 'Bounce':
      return event.bounce === 'hard' ? { ...EMPTY_COUNTS, hardBounces: n } : { ...EMPTY_COUNTS, softBounces: n };
    case 'Complaint':
      return { ...EMPTY_COUNTS, complaints: n };
    case 'Reject':
      return { ...EMPTY_COUNTS, rejects: n };
    case 'DeliveryDelay':
      return { ...EMPTY_COUNTS, delays: n };
  }
}

function addCounts(sum: WindowCounts, next: WindowCounts): WindowCounts {
  return Object.fromEntries(COUNT_FIELDS.map((field) => [field, sum[field] + next[field]])) as unknown as WindowCounts;
}

function toState(item: Record<string, unknown>): ReputationState {
  return {
    userId: String(item.userId),
    login: String(item.login),
    step: (item.step as ReputationStep | undefined) ?? 'none',
    ...(typeof item.reason === 'string' ? { reason: item.reason } : {}),
    ...(typeof item.countFrom === 'string' ? { countFrom: item.countFrom } : {}),
    updatedAt: String(item.updatedAt),
  };
}

function epoch(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}
