import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { localDynamoDbClient, startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';

const TABLE = 'fault-test';
const OTHER_TABLE = 'fault-test-other';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

async function start(t: TestContext, env: NodeJS.ProcessEnv = {}): Promise<{ db: EmbeddedDynamoDb; client: DynamoDBClient }> {
  const db = await startEmbeddedDynamoDb(undefined, '127.0.0.1', { env });
  // One attempt: each request shows exactly what the stand-in answered, without the SDK's retries and back-off.
  const client = new DynamoDBClient({ endpoint: db.endpoint, region: 'local', credentials: CREDENTIALS, maxAttempts: 1 });
  t.after(async () => {
    client.destroy();
    await db.close();
  });
  for (const name of [TABLE, OTHER_TABLE]) {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
  }
  return { db, client };
}

const get = (table = TABLE) => new GetItemCommand({ TableName: table, Key: { pk: { S: 'k' } } });
const put = (table = TABLE) => new PutItemCommand({ TableName: table, Item: { pk: { S: 'k' }, v: { S: 'value' } } });

async function failure(promise: Promise<unknown>): Promise<DynamoDBServiceException> {
  const error = await promise.then(
    () => assert.fail('expected the request to fail'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof DynamoDBServiceException, String(error));
  return error;
}

test('each error fault reaches the SDK as the DynamoDB error it names', async (t) => {
  const { db, client } = await start(t);
  for (const [fault, name, status, klass] of [
    ['throttle', 'ProvisionedThroughputExceededException', 400, ProvisionedThroughputExceededException],
    ['throttling', 'ThrottlingException', 400, undefined],
    ['internal', 'InternalServerError', 500, InternalServerError],
    ['unavailable', 'ServiceUnavailableException', 503, undefined],
  ] as const) {
    db.faults.arm(fault, 1);
    const error = await failure(client.send(get()));
    assert.equal(error.name, name);
    assert.equal(error.$metadata.httpStatusCode, status);
    if (klass) assert.ok(error instanceof klass, `${fault} is a ${klass.name}`);
    assert.equal(db.faults.current(), undefined, 'a count of one is used up');
  }
  assert.deepEqual((await client.send(get())).Item, undefined, 'served by dynalite again');
  assert.deepEqual(db.stats().faults, { throttle: 1, throttling: 1, internal: 1, unavailable: 1 });
  assert.equal(db.stats().faulted, 4);
});

test("the SDK's own retries see the fault as DynamoDB's: one throttle is absorbed, a persistent one is not", async (t) => {
  const { db } = await start(t);
  const client = localDynamoDbClient(db.endpoint); // the local stack's client: the SDK's default retries
  t.after(() => client.destroy());
  await client.send(put());
  db.faults.arm('throttle', 1);
  const out = await client.send(get());
  assert.equal(out.Item?.v?.S, 'value');
  assert.equal(out.$metadata.attempts, 2);
  db.faults.arm('internal');
  const error = await failure(client.send(get()));
  assert.equal(error.name, 'InternalServerError');
  assert.ok((error.$metadata.attempts ?? 0) > 1, 'retried before giving up');
  db.faults.clear();
});

test('a fault narrowed to an operation or a table leaves other requests, and its count, alone', async (t) => {
  const { db, client } = await start(t);
  db.faults.arm('internal@GetItem', 1);
  await client.send(put());
  assert.deepEqual(db.faults.current(), { fault: 'internal@GetItem', remaining: 1 });
  assert.equal((await failure(client.send(get()))).name, 'InternalServerError');

  db.faults.arm(`throttle@${OTHER_TABLE}`, 2);
  assert.equal((await client.send(get())).Item?.v?.S, 'value');
  await client.send(put(TABLE));
  assert.equal((await failure(client.send(put(OTHER_TABLE)))).name, 'ProvisionedThroughputExceededException');
  assert.deepEqual(db.faults.current(), { fault: `throttle@${OTHER_TABLE}`, remaining: 1 });
  db.faults.clear();
});

test('table management is never faulted, so a stack with a fault armed still starts', async (t) => {
  const { db, client } = await start(t);
  db.faults.arm('internal');
  assert.equal((await client.send(new DescribeTableCommand({ TableName: TABLE }))).Table?.TableName, TABLE);
  assert.deepEqual(db.faults.current(), { fault: 'internal', remaining: null });
  db.faults.clear();
});

test('hang holds the request until the client gives up, delay serves it late; close() ends held requests', async (t) => {
  const { db, client } = await start(t);
  const impatient = new DynamoDBClient({
    endpoint: db.endpoint,
    region: 'local',
    credentials: CREDENTIALS,
    maxAttempts: 1,
    requestHandler: { requestTimeout: 200, throwOnRequestTimeout: true },
  });
  t.after(() => impatient.destroy());
  db.faults.arm('hang', 1);
  const started = performance.now();
  const error = await impatient.send(get()).catch((e: Error) => e);
  assert.ok(error instanceof Error && error.name === 'TimeoutError', String(error));
  assert.ok(performance.now() - started >= 190);

  db.faults.arm('delay:150', 1);
  const delayed = performance.now();
  await client.send(put());
  assert.ok(performance.now() - delayed >= 140, 'served after the delay');
  assert.equal((await client.send(get())).Item?.v?.S, 'value', 'and really served');

  db.faults.arm('hang');
  const held = client.send(get()).then(
    () => 'answered',
    () => 'failed',
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  await db.close();
  assert.equal(await held, 'failed', 'close() dropped the held request instead of waiting for it');
});

test('LOCAL_DYNAMODB_FAULT and LOCAL_DYNAMODB_FAULT_COUNT arm a fault at start; a typo refuses to start', async (t) => {
  const { db } = await start(t, { LOCAL_DYNAMODB_FAULT: 'internal@GetItem', LOCAL_DYNAMODB_FAULT_COUNT: '2' });
  assert.deepEqual(db.faults.current(), { fault: 'internal@GetItem', remaining: 2 });
  for (const env of [{ LOCAL_DYNAMODB_FAULT: 'throttel' }, { LOCAL_DYNAMODB_FAULT: 'internal@' }, { LOCAL_DYNAMODB_FAULT: 'hang', LOCAL_DYNAMODB_FAULT_COUNT: 'x' }]) {
    await assert.rejects(startEmbeddedDynamoDb(undefined, '127.0.0.1', { env }), RangeError, JSON.stringify(env));
  }
});

test('the control routes arm, show and clear the fault, and count', async (t) => {
  const { db, client } = await start(t);
  const control = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${db.endpoint}/_control/${route}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  assert.deepEqual(await control('POST', 'fault', { fault: 'throttling@GetItem', count: 1 }), { status: 200, body: { fault: 'throttling@GetItem', remaining: 1 } });
  assert.deepEqual((await control('GET', 'fault')).body, { fault: 'throttling@GetItem', remaining: 1 });
  assert.equal((await failure(client.send(get()))).name, 'ThrottlingException');
  assert.deepEqual((await control('GET', 'fault')).body, { fault: null, remaining: null });
  assert.equal((await control('POST', 'fault', { fault: 'nonsense' })).status, 400);
  await control('POST', 'fault', { fault: 'internal' });
  assert.deepEqual((await control('DELETE', 'fault')).body, { fault: null, remaining: null });
  const stats = (await control('GET', 'stats')).body;
  assert.equal(stats.faulted, 1);
  assert.deepEqual(stats.faults, { throttling: 1 });
  assert.equal((stats.operations as Record<string, number>).GetItem, 1);
  assert.equal((await control('GET', 'nothing')).status, 404);
});
