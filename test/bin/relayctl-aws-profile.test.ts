import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { LOCAL_USERS_TABLE, localDynamoDbClient, startEmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';
import { ensureLocalTables } from '../../relay/local/local-tables.ts';
import { relayctl, tempDataDir } from './relayctl-process.ts';

test('--profile picks the AWS credentials of a named profile; without credentials the refusal says what to do', async (t) => {
  const dynamo = await startEmbeddedDynamoDb(undefined);
  t.after(() => dynamo.close());
  await ensureLocalTables(localDynamoDbClient(dynamo.endpoint));
  const home = await tempDataDir(t, 'relayctl-aws-home-', { withStore: false });
  const credentials = path.join(home, 'credentials');
  // Fake keys: the DynamoDB stand-in checks no signature, but the SDK signs only with credentials it found.
  await writeFile(credentials, '[ops]\naws_access_key_id = AKIDFAKEOPS\naws_secret_access_key = fake-secret\n');
  const env = { HOME: home, AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: path.join(home, 'no-config') };
  const table = ['--table', LOCAL_USERS_TABLE, '--region', 'us-east-1', '--dynamodb-endpoint', dynamo.endpoint];

  const withProfile = await relayctl([...table, '--profile', 'ops', '--json', 'user', 'list'], { env });
  assert.equal(withProfile.code, 0, withProfile.stderr);
  assert.equal(withProfile.stdout.trim(), '[]');

  const without = await relayctl([...table, 'user', 'list'], { env });
  assert.equal(without.code, 4);
  assert.match(without.stderr, /^relayctl: no AWS credentials: .*\(give --profile or set AWS_PROFILE, or log in with aws sso login\)\n$/);
});
