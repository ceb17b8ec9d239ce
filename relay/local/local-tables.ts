import {
  CreateTableCommand,
  ResourceInUseException,
  waitUntilTableExists,
  type DynamoDBClient,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { OWNER_INDEX } from '../../lambda/user-store.ts';
import { LOCAL_COUNTERS_TABLE, LOCAL_REPUTATION_TABLE, LOCAL_USERS_TABLE } from './embedded-dynamodb.ts';

const KEYS: KeySchemaElement[] = [
  { AttributeName: 'pk', KeyType: 'HASH' },
  { AttributeName: 'sk', KeyType: 'RANGE' },
];

/**
 * Creates the relay's tables (users, counters, reputation) in the local DynamoDB stand-in, as the CDK
 * stack (lib/relay-tables.ts) defines them in AWS, and waits until they are
 * ACTIVE: dynalite, like DynamoDB, answers CreateTable with CREATING and
 * refuses requests on the table until then.
 */
export async function ensureLocalTables(
  client: DynamoDBClient,
  tables: { users: string; counters: string; reputation?: string } = { users: LOCAL_USERS_TABLE, counters: LOCAL_COUNTERS_TABLE },
): Promise<void> {
  const names = { reputation: LOCAL_REPUTATION_TABLE, ...tables };
  await create(client, new CreateTableCommand({
    TableName: names.users,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk'].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    KeySchema: KEYS,
    GlobalSecondaryIndexes: [
      {
        IndexName: OWNER_INDEX,
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  }));
  for (const name of [names.counters, names.reputation]) {
    await create(client, new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: ['pk', 'sk'].map((attribute) => ({ AttributeName: attribute, AttributeType: 'S' })),
      KeySchema: KEYS,
    }));
  }
  for (const name of [names.users, names.counters, names.reputation]) {
    await waitUntilTableExists({ client, minDelay: 0.05, maxDelay: 0.2, maxWaitTime: 30 }, { TableName: name });
  }
}

async function create(client: DynamoDBClient, command: CreateTableCommand): Promise<void> {
  try {
    await client.send(command);
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}
