import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
  paginateQuery,
  paginateScan,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';

/**
 * The one module that reads and writes the users table.
 *
 * Schema (single table, string keys `pk` and `sk`; GSI `byOwner` on `gsi1pk`/`gsi1sk`):
 *
 * | item          | pk                     | sk        | gsi1pk              | other attributes |
 * |---------------|------------------------|-----------|---------------------|------------------|
 * | user          | `USER#<login>`         | `PROFILE` | —                   | login, passwordHash (PHC string), passwordChangedAt, disabled, createdAt, updatedAt, settings (map: configurationSet, messageTags, allowedNetworks, limits), restriction (map, see UserRestriction) |
 * | restriction history | `USER#<login>`   | `RESTRICTION#<at>#<n>` | —          | login, action (`restricted`/`reinstated`), state, reason, by, at |
 * | sender grant  | `SENDER#<addr|@domain>`| `SENDER`  | `OWNER#<login>`     | grant, owner, createdAt |
 * | sender alias  | `SENDER#<addr>`        | `SENDER`  | `OWNER#<target>`    | grant, aliasOf (another address: a login or an alias), createdAt |
 * | change head   | `CHANGE`               | `HEAD`    | —                   | epoch (the last change number taken) |
 * | change        | `CHANGE`               | `<epoch, 16 digits>` | —        | epoch, login, kind, at, expiresAt (TTL) |
 *
 * The change items are the revocation feed: every writer that takes something
 * away from a user (or changes what the relay must know about them) announces
 * it after its write, and every relay task reads the feed about once a second
 * (relay/change-feed.ts). The relay task may read the `CHANGE` partition and
 * nothing else of this table.
 *
 * Every grant is one item whose key is the granted address itself, written with
 * `attribute_not_exists(pk)`: an address can be granted once only, to one owner,
 * without transactions (dynalite has none; real DynamoDB serves this just as well).
 * Listing a user's grants is a Query of the GSI on `OWNER#<login>`; aliases that
 * point at an alias are found by following the GSI a level further.
 *
 * Per-user settings live in the `settings` map of the user item, so that a new
 * setting needs no new item and is read by the same GetItem as the password.
 * Sending counters are not here: they change on every message and live in their
 * own table (see the relay's rate limiter), so this table stays read-mostly.
 *
 * All keys are canonical addresses (see mail-address.ts); callers canonicalise.
 */

export const OWNER_INDEX = 'byOwner';
/** Longest alias chain followed; a longer one (or a loop) owns nothing. */
export const MAX_ALIAS_DEPTH = 8;

export interface UserLimits {
  readonly messagesPerMinute?: number;
  readonly recipientsPerDay?: number;
}

export interface UserSettings {
  readonly configurationSet?: string;
  readonly messageTags?: Readonly<Record<string, string>>;
  /** CIDR blocks the user may connect from; absent means anywhere. */
  readonly allowedNetworks?: readonly string[];
  readonly limits?: UserLimits;
}

/** What an announced change was; the relay treats them all alike (the login's permits go, its sessions are checked again). */
export type UserChangeKind = 'disabled' | 'enabled' | 'password' | 'removed' | 'senders' | 'settings' | 'restricted' | 'reinstated';

/** One entry of the change feed. */
export interface UserChange {
  readonly epoch: number;
  readonly login: string;
  readonly kind: UserChangeKind;
  readonly at: string;
}

/** What one read of the change feed found. */
export interface ChangeBatch {
  /** Changes after the epoch asked for, in epoch order; epochs may be missing (taken, not yet written). */
  readonly changes: readonly UserChange[];
  /** The last epoch taken, when the read reached the head item. */
  readonly head?: number;
  /** True when more changes were there than one read returns: the reader is far behind. */
  readonly truncated: boolean;
}

/**
 * A step of the reputation guard (or an operator's decision) that limits a user
 * beyond their settings. Set by `restrictUser`, cleared by `reinstateUser`.
 */
export interface UserRestriction {
  readonly state: 'warned' | 'throttled' | 'suspended';
  /** Human text, e.g. "bounce rate 7.1 % over the last 24 h (threshold 4 %)". */
  readonly reason: string;
  /** With 'throttled': the user's messages-per-minute cut to this. */
  readonly messagesPerMinute?: number;
  readonly since: string; // ISO time
  readonly by: string; // 'reputation' or the operator who set it
}

/** One restriction or reinstatement of a user, kept after it ends. */
export interface RestrictionHistoryEntry {
  readonly action: 'restricted' | 'reinstated';
  /** The restriction set, or for a reinstatement the one cleared. */
  readonly state: UserRestriction['state'];
  readonly reason: string;
  readonly by: string;
  readonly at: string;
}

export interface UserRecord {
  readonly login: string;
  readonly passwordHash: string;
  /**
   * When the password was last set by an operator (relayctl add, passwd, import):
   * sessions that logged in with an earlier one are closed. The policy's rehash
   * of the same password leaves it alone. Older records lack it; createdAt stands in.
   */
  readonly passwordChangedAt?: string;
  readonly disabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly settings: UserSettings;
  readonly restriction?: UserRestriction;
}

export type SenderRecord =
  | { readonly grant: string; readonly owner: string; readonly createdAt: string }
  | { readonly grant: string; readonly aliasOf: string; readonly createdAt: string };

/** The store refused a write because the item it must not overwrite exists (or must exist and does not). */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

const userKey = (login: string) => ({ pk: `USER#${login}`, sk: 'PROFILE' });
const senderKey = (grant: string) => ({ pk: `SENDER#${grant}`, sk: 'SENDER' });

export const CHANGE_PARTITION = 'CHANGE';
const CHANGE_HEAD = { pk: CHANGE_PARTITION, sk: 'HEAD' };
/** Epochs as fixed-width digits sort in number order, and below `HEAD`, so one Query returns the new changes and then the head. */
const changeSortKey = (epoch: number) => String(epoch).padStart(16, '0');
/** Change items delete themselves (the table's TTL attribute); a reader further behind than this starts afresh. */
export const CHANGE_RETENTION_SECONDS = 86_400;
/** Changes one feed read returns at most. */
const CHANGE_PAGE_LIMIT = 500;
const CHANGE_KINDS: ReadonlySet<string> = new Set<UserChangeKind>(['disabled', 'enabled', 'password', 'removed', 'senders', 'settings', 'restricted', 'reinstated']);

export class UserStore {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async getUser(login: string): Promise<UserRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall(userKey(login)), ConsistentRead: true }),
    );
    return out.Item ? toUser(unmarshall(out.Item)) : undefined;
  }

  async createUser(login: string, passwordHash: string, now = new Date()): Promise<UserRecord> {
    const at = now.toISOString();
    const record: UserRecord = { login, passwordHash, passwordChangedAt: at, disabled: false, createdAt: at, updatedAt: at, settings: {} };
    await this.conditional(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({ ...userKey(login), ...record }, { removeUndefinedValues: true }),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
      `user ${login} already exists`,
    );
    return record;
  }

  /**
   * Sets attributes of an existing user; fails with StoreConflictError if there is none.
   * A new password hash stamps passwordChangedAt too. Announcing the change is the caller's.
   */
  async updateUser(
    login: string,
    changes: { passwordHash?: string; disabled?: boolean; settings?: UserSettings },
    now = new Date(),
  ): Promise<void> {
    const values: Record<string, unknown> = { ':now': now.toISOString() };
    const sets = ['updatedAt = :now', ...(changes.passwordHash !== undefined ? ['passwordChangedAt = :now'] : [])];
    for (const [name, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      sets.push(`#${name} = :${name}`);
      values[`:${name}`] = value;
    }
    const names = Object.fromEntries(
      Object.keys(changes)
        .filter((name) => changes[name as keyof typeof changes] !== undefined)
        .map((name) => [`#${name}`, name]),
    );
    await this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall(userKey(login)),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
        ExpressionAttributeValues: marshall(values, { removeUndefinedValues: true }),
      }),
      `no user ${login}`,
    );
  }

  /**
   * Swaps the password hash only if it is still `expected`: the policy's rehash
   * on login must never overwrite a password changed in the meantime.
   */
  async replacePasswordHash(login: string, expected: string, passwordHash: string, now = new Date()): Promise<void> {
    await this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall(userKey(login)),
        UpdateExpression: 'SET passwordHash = :hash, updatedAt = :now',
        ConditionExpression: 'passwordHash = :expected',
        ExpressionAttributeValues: marshall({ ':hash': passwordHash, ':expected': expected, ':now': now.toISOString() }),
      }),
      `password of ${login} changed meanwhile`,
    );
  }

  async removeUser(login: string): Promise<void> {
    await this.conditional(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: marshall(userKey(login)),
        ConditionExpression: 'attribute_exists(pk)',
      }),
      `no user ${login}`,
    );
  }

  async listUsers(): Promise<UserRecord[]> {
    const users: UserRecord[] = [];
    const pages = paginateScan(
      { client: this.client },
      { TableName: this.tableName, FilterExpression: 'sk = :profile', ExpressionAttributeValues: { ':profile': { S: 'PROFILE' } } },
    );
    for await (const page of pages) for (const item of page.Items ?? []) users.push(toUser(unmarshall(item)));
    return users.sort((a, b) => a.login.localeCompare(b.login));
  }

  async getSender(grant: string): Promise<SenderRecord | undefined> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall(senderKey(grant)), ConsistentRead: true }),
    );
    return out.Item ? toSender(unmarshall(out.Item)) : undefined;
  }

  /** Grants `grant` (an address or `@domain`) to `owner`; an address is granted once only. */
  async putSender(record: SenderRecord): Promise<void> {
    const target = 'owner' in record ? record.owner : record.aliasOf;
    await this.conditional(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          ...senderKey(record.grant),
          ...record,
          gsi1pk: `OWNER#${target}`,
          gsi1sk: `SENDER#${record.grant}`,
        }),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
      `${record.grant} is already granted`,
    );
  }

  /** Removes a grant, only if it points at `target` (so one cannot revoke another user's grant). */
  async removeSender(grant: string, target: string): Promise<void> {
    await this.conditional(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: marshall(senderKey(grant)),
        ConditionExpression: 'gsi1pk = :target',
        ExpressionAttributeValues: { ':target': { S: `OWNER#${target}` } },
      }),
      `${grant} is not granted to ${target}`,
    );
  }

  /** Grants and aliases that point at `target` directly. */
  async sendersOf(target: string): Promise<SenderRecord[]> {
    const records: SenderRecord[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        IndexName: OWNER_INDEX,
        KeyConditionExpression: 'gsi1pk = :target',
        ExpressionAttributeValues: { ':target': { S: `OWNER#${target}` } },
      },
    );
    for await (const page of pages) for (const item of page.Items ?? []) records.push(toSender(unmarshall(item)));
    return records;
  }

  /**
   * Announces on the change feed that something about `login` changed, after the
   * change itself was written: every relay task drops what it remembers of the
   * user and checks the user's open sessions again within its bound. Takes the
   * next epoch from the head item (an atomic ADD), then writes the change item;
   * a writer that dies between the two leaves a gap, which readers close by
   * forgetting everything (see relay/change-feed.ts), so nothing is missed.
   */
  async announceChange(login: string, kind: UserChangeKind, now = new Date()): Promise<void> {
    const out = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall(CHANGE_HEAD),
        UpdateExpression: 'ADD epoch :one',
        ExpressionAttributeValues: { ':one': { N: '1' } },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const epoch = Number(out.Attributes?.epoch?.N);
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new Error(`change head returned no epoch (${String(out.Attributes?.epoch?.N)})`);
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall({
          pk: CHANGE_PARTITION,
          sk: changeSortKey(epoch),
          epoch,
          login,
          kind,
          at: now.toISOString(),
          expiresAt: Math.floor(now.getTime() / 1000) + CHANGE_RETENTION_SECONDS,
        }),
      }),
    );
  }

  /** The last epoch taken (0 before the first change). */
  async changeHead(): Promise<number> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall(CHANGE_HEAD), ConsistentRead: true }),
    );
    return out.Item?.epoch?.N ? Number(out.Item.epoch.N) : 0;
  }

  /** The changes after `epoch` and the head, in one strongly consistent Query of the `CHANGE` partition. */
  async changesAfter(epoch: number): Promise<ChangeBatch> {
    const out = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk > :after',
        ExpressionAttributeValues: { ':pk': { S: CHANGE_PARTITION }, ':after': { S: changeSortKey(epoch) } },
        ConsistentRead: true,
        Limit: CHANGE_PAGE_LIMIT + 1,
      }),
    );
    const changes: UserChange[] = [];
    let head: number | undefined;
    for (const raw of out.Items ?? []) {
      const item = unmarshall(raw);
      if (item.sk === CHANGE_HEAD.sk) head = Number(item.epoch);
      else if (typeof item.login === 'string' && CHANGE_KINDS.has(String(item.kind))) {
        changes.push({ epoch: Number(item.epoch), login: item.login, kind: item.kind as UserChangeKind, at: String(item.at) });
      }
    }
    return { changes, ...(head !== undefined ? { head } : {}), truncated: out.LastEvaluatedKey !== undefined };
  }

  /**
   * Restricts a user (warned, throttled, suspended), replacing any restriction
   * there, keeps a history entry, and announces it. StoreConflictError if there is no such user.
   */
  async restrictUser(login: string, restriction: UserRestriction, now = new Date()): Promise<void> {
    await this.conditional(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall(userKey(login)),
        UpdateExpression: 'SET restriction = :restriction, updatedAt = :now',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: marshall({ ':restriction': restriction, ':now': now.toISOString() }, { removeUndefinedValues: true }),
      }),
      `no user ${login}`,
    );
    await this.recordRestriction(login, { action: 'restricted', state: restriction.state, reason: restriction.reason, by: restriction.by, at: now.toISOString() });
    await this.announceChange(login, 'restricted', now);
  }

  /**
   * Clears a user's restriction, keeps who did it and why in the history, and
   * announces it. StoreConflictError if the user does not exist or is not restricted.
   */
  async reinstateUser(login: string, by: string, why: string, now = new Date()): Promise<void> {
    let cleared: UserRestriction | undefined;
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall(userKey(login)),
          UpdateExpression: 'REMOVE restriction SET updatedAt = :now',
          ConditionExpression: 'attribute_exists(restriction)',
          ExpressionAttributeValues: marshall({ ':now': now.toISOString() }),
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      cleared = out.Attributes?.restriction ? (unmarshall(out.Attributes).restriction as UserRestriction) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new StoreConflictError(`${login} is not restricted (or does not exist)`);
      throw error;
    }
    await this.recordRestriction(login, { action: 'reinstated', state: cleared?.state ?? 'suspended', reason: why, by, at: now.toISOString() });
    await this.announceChange(login, 'reinstated', now);
  }

  /** The user's restrictions and reinstatements, oldest first. */
  async restrictionHistory(login: string): Promise<RestrictionHistoryEntry[]> {
    const entries: RestrictionHistoryEntry[] = [];
    const pages = paginateQuery(
      { client: this.client },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': { S: userKey(login).pk }, ':prefix': { S: 'RESTRICTION#' } },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const raw of page.Items ?? []) {
        const item = unmarshall(raw);
        entries.push({ action: item.action, state: item.state, reason: String(item.reason), by: String(item.by), at: String(item.at) });
      }
    }
    return entries;
  }

  private async recordRestriction(login: string, entry: RestrictionHistoryEntry): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        // The random tail keeps two entries of one millisecond apart.
        Item: marshall({ ...userKey(login), sk: `RESTRICTION#${entry.at}#${Math.random().toString(36).slice(2, 10)}`, login, ...entry }),
      }),
    );
  }

  private async conditional(
    command: PutItemCommand | UpdateItemCommand | DeleteItemCommand,
    conflict: string,
  ): Promise<void> {
    try {
      await this.client.send(command as PutItemCommand);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new StoreConflictError(conflict);
      throw error;
    }
  }
}

function toUser(item: Record<string, unknown>): UserRecord {
  return {
    login: String(item.login),
    passwordHash: String(item.passwordHash),
    ...(typeof item.passwordChangedAt === 'string' ? { passwordChangedAt: item.passwordChangedAt } : {}),
    disabled: item.disabled === true,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt ?? item.createdAt),
    settings: (item.settings as UserSettings | undefined) ?? {},
    ...(item.restriction ? { restriction: item.restriction as UserRestriction } : {}),
  };
}

function toSender(item: Record<string, unknown>): SenderRecord {
  const base = { grant: String(item.grant), createdAt: String(item.createdAt) };
  return typeof item.owner === 'string' ? { ...base, owner: item.owner } : { ...base, aliasOf: String(item.aliasOf) };
}
