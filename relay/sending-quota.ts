import {
  ConditionalCheckFailedException,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { QuotaLeases } from './quota-leases.ts';
import { SmtpError } from './smtp-error.ts';

export interface SendingLimits {
  readonly messagesPerMinute?: number;
  readonly recipientsPerDay?: number;
}

/**
 * What happens to mail when the counters cannot be reached:
 * - `fail-closed`: each task lets a user send a share of each limit
 *   (1 / `fallbackTasks`), counted in its own memory for the window; past it `451 4.7.1`;
 * - `fail-open`: mail goes through uncounted (logged).
 */
export type QuotaUnavailableMode = 'fail-closed' | 'fail-open';

export interface SendingQuotaOptions {
  readonly whenUnavailable: QuotaUnavailableMode;
  /**
   * fail-closed: while the counters cannot be reached one task allows a user
   * each limit divided by this, per window; with the most tasks the service
   * runs, all of them together stay within the limit.
   */
  readonly fallbackTasks: number;
  /** The largest lease, in messages or recipients (see quota-leases.ts). */
  readonly leaseCap: number;
  readonly now?: () => Date;
}

/**
 * How a message or its recipients were counted:
 * - `shared`: against the counters every task shares;
 * - `locally`: the counters could not be reached; counted against this task's fallback share;
 * - `uncounted`: the counters could not be reached and the relay fails open.
 */
export type QuotaAdmission =
  | { readonly counted: 'shared' }
  | { readonly counted: 'locally' | 'uncounted'; readonly cause: unknown };

interface Counter {
  readonly name: 'MINUTE' | 'DAY';
  /** The window of a time: `2026-12-05T17:20` (minute) or `2026-12-05` (day), UTC. */
  readonly windowOf: (now: Date) => string;
  /** How long the counter's item outlives its window (the table's TTL). */
  readonly keepSeconds: number;
  readonly leases: QuotaLeases;
  /** fail-closed: what each user spent of the fallback share, this window. */
  fallback: { window: string; spent: Map<string, number> };
}

const SHARED: QuotaAdmission = { counted: 'shared' };

/**
 * Per-user sending limits, counted in DynamoDB so that every task shares them
 * and they survive restarts. A task takes the user's allowance in leases (one
 * conditional UpdateItem takes several messages or recipients at once and
 * refuses to pass the limit) and spends them in memory: quota-leases.ts says
 * how leases are sized, how they end with their window, and what they cost in
 * precision.
 *
 * Counters table: `pk` = `USER#<login>`, `sk` = `MINUTE#<yyyy-mm-ddThh:mm>` or
 * `DAY#<yyyy-mm-dd>` (UTC), attribute `count` (what all tasks leased), and
 * `expiresAt` (epoch seconds, the table's TTL attribute) so old windows delete
 * themselves.
 *
 * A message counts when it is attempted (MAIL for messages, end of DATA for
 * recipients), not when SES accepts it: a client retrying failures is still
 * sending. A limit that cannot be checked fails closed by default: see
 * `QuotaUnavailableMode`.
 */
export class SendingQuota {
  readonly #messages: Counter;
  readonly #recipients: Counter;
  readonly #now: () => Date;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly options: SendingQuotaOptions,
  ) {
    this.#now = options.now ?? (() => new Date());
    this.#messages = this.#counter('MINUTE', (now) => now.toISOString().slice(0, 16), 120);
    this.#recipients = this.#counter('DAY', (now) => now.toISOString().slice(0, 10), 2 * 86_400);
  }

  /** Counts one message against the user's per-minute limit; `450 4.7.1` over it. */
  async admitMessage(login: string, limits: SendingLimits): Promise<QuotaAdmission> {
    const limit = limits.messagesPerMinute;
    if (!limit) return SHARED;
    return this.#admit(this.#messages, login, 1, limit, () =>
      new SmtpError(450, '4.7.1', `Error: sending rate limit reached (${limit} messages a minute), try again later`, undefined, 'rate-messages'),
    );
  }

  /** Counts the message's recipients against the user's daily limit; `450 4.7.1` over it. */
  async admitRecipients(login: string, recipients: number, limits: SendingLimits): Promise<QuotaAdmission> {
    const limit = limits.recipientsPerDay;
    if (!limit) return SHARED;
    return this.#admit(this.#recipients, login, recipients, limit, () =>
      new SmtpError(450, '4.7.1', `Error: daily recipient limit reached (${limit} recipients a day), try again tomorrow`, undefined, 'rate-recipients'),
    );
  }

  #counter(name: Counter['name'], windowOf: Counter['windowOf'], keepSeconds: number): Counter {
    const counter: Counter = {
      name,
      windowOf,
      keepSeconds,
      leases: new QuotaLeases(
        (user, window, amount, limit) => this.#takeShared(counter, user, window, amount, limit),
        this.options.leaseCap,
        () => windowOf(this.#now()),
      ),
      fallback: { window: '', spent: new Map() },
    };
    return counter;
  }

  async #admit(counter: Counter, login: string, amount: number, limit: number, overLimit: () => SmtpError): Promise<QuotaAdmission> {
    if (amount > limit) throw overLimit();
    let within: boolean;
    try {
      within = await counter.leases.spend(login, amount, limit);
    } catch (cause) {
      return this.#whenUnavailable(counter, login, amount, limit, cause);
    }
    if (!within) throw overLimit();
    return SHARED;
  }

  /** The counters could not be reached: fail open, or count against this task's fallback share. */
  #whenUnavailable(counter: Counter, login: string, amount: number, limit: number, cause: unknown): QuotaAdmission {
    if (this.options.whenUnavailable === 'fail-open') return { counted: 'uncounted', cause };
    const window = counter.windowOf(this.#now());
    if (counter.fallback.window !== window) counter.fallback = { window, spent: new Map() };
    const spent = (counter.fallback.spent.get(login) ?? 0) + amount;
    if (spent > Math.floor(limit / this.options.fallbackTasks)) {
      throw new SmtpError(451, '4.7.1', 'Error: sending limits cannot be checked now, try again later', cause, 'quota-unavailable');
    }
    counter.fallback.spent.set(login, spent);
    return { counted: 'locally', cause };
  }

  /** One conditional UpdateItem: adds `amount` to the window's count unless that passes `limit`. */
  async #takeShared(counter: Counter, login: string, window: string, amount: number, limit: number): Promise<boolean> {
    const expiresAt = Math.floor(this.#now().getTime() / 1000) + counter.keepSeconds;
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: `USER#${login}` }, sk: { S: `${counter.name}#${window}` } },
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
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
