import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
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
 * | user          | `USER#<login>`         | `PROFILE` | —                   | login, passwordHash (PHC string), disabled, createdAt, updatedAt, settings (map: configurationSet, messageTags, allowedNetworks, limits) |
 * | sender grant  | `SENDER#<addr|@domain>`| `SENDER`  | `OWNER#<login>`     | grant, owner, createdAt |
 * | sender alias  | `SENDER#<addr>`        | `SENDER`  | `OWNER#<target>`    | grant, aliasOf (another address: a login or an alias), createdAt |
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

/** A user's own sending limits; an absent one is the relay's default, 0 is no limit. */
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

export interface UserRecord {
  readonly login: string;
  readonly passwordHash: string;
  readonly disabled: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly settings: UserSettings;
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
    const record: UserRecord = { login, passwordHash, disabled: false, createdAt: at, updatedAt: at, settings: {} };
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

  /** Sets attributes of an existing user; fails with StoreConflictError if there is none. */
  async updateUser(
    login: string,
    changes: { passwordHash?: string; disabled?: boolean; settings?: UserSettings },
    now = new Date(),
  ): Promise<void> {
    const values: Record<string, unknown> = { ':now': now.toISOString() };
    const sets = ['updatedAt = :now'];
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
    disabled: item.disabled === true,
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt ?? item.createdAt),
    settings: (item.settings as UserSettings | undefined) ?? {},
  };
}

function toSender(item: Record<string, unknown>): SenderRecord {
  const base = { grant: String(item.grant), createdAt: String(item.createdAt) };
  return typeof item.owner === 'string' ? { ...base, owner: item.owner } : { ...base, aliasOf: String(item.aliasOf) };
}
