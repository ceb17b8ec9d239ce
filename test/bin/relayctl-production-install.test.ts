import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { LOCAL_USERS_TABLE, localDynamoDbClient, startEmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';
import { ensureLocalTables } from '../../relay/local/local-tables.ts';
import { RELAYCTL, tempDataDir } from './relayctl-process.ts';

const run = promisify(execFile);
const PROJECT_ROOT = path.dirname(path.dirname(RELAYCTL));
/** What a production checkout holds: the package files and the sources, no tests, no node_modules. */
const SHIPPED = ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'cdk.json', 'bin', 'lambda', 'lib', 'relay'];

/**
 * relayctl from `npm ci --omit=dev`: the operator's tool must run where only
 * the runtime dependencies are installed. The install is offline, from the npm
 * cache that the project's own `npm ci` filled, so it needs no network.
 */
test('relayctl runs from a production install (npm ci --omit=dev)', { timeout: 300_000 }, async (t) => {
  const install = await mkdtemp(path.join(tmpdir(), 'relayctl-omit-dev-'));
  t.after(() => rm(install, { recursive: true, force: true }));
  for (const entry of SHIPPED) await cp(path.join(PROJECT_ROOT, entry), path.join(install, entry), { recursive: true });
  await run('npm', ['ci', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: install, maxBuffer: 16 * 1024 * 1024 });
  await assert.rejects(run(process.execPath, ['-e', "import('dynalite')"], { cwd: install }), 'a dev dependency is really absent');

  // A clean environment: nothing of the developer's AWS or relay settings.
  const env = { PATH: process.env.PATH ?? '', HOME: install, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' };
  const relayctl = (args: string[], stdin?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [path.join(install, 'bin', 'relayctl.js'), ...args], { cwd: install, env }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
      child.stdin!.end(stdin ?? '');
    });

  const help = await relayctl(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: relayctl /m);
  const config = await relayctl(['config']);
  assert.equal(config.code, 0, config.stderr);
  assert.match(config.stdout, /^DEFAULT_MESSAGES_PER_MINUTE +120 +\(default\)$/m);

  // The local store needs the development dependencies: said in one line, not a stack trace.
  const dataDir = await tempDataDir(t);
  const local = await relayctl(['user', 'list'], undefined);
  assert.equal(local.code, 4, local.stderr);
  const withStore = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [path.join(install, 'bin', 'relayctl.js'), 'user', 'list'], { cwd: install, env: { ...env, RELAY_DATA_DIR: dataDir } }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
  assert.equal(withStore.code, 4);
  assert.match(withStore.stderr, /^relayctl: the local store needs the development dependencies, which this install lacks \(npm ci --omit=dev\): give --table/);

  // A real command against a table, as in AWS; the table is the DynamoDB stand-in this test runs.
  const dynamo = await startEmbeddedDynamoDb(undefined);
  t.after(() => dynamo.close());
  await ensureLocalTables(localDynamoDbClient(dynamo.endpoint));
  const table = ['--table', LOCAL_USERS_TABLE, '--dynamodb-endpoint', dynamo.endpoint];
  const added = await relayctl([...table, 'user', 'add', 'john@example.org', '--password-stdin'], 'a fake long passphrase\n');
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.stdout, 'added user john@example.org\n');
  const auth = await relayctl([...table, 'auth', 'test', 'john@example.org'], 'a fake long passphrase\n');
  assert.equal(auth.stdout, 'ok: john@example.org would be let in\n', auth.stderr);
  const listed = await relayctl([...table, '--json', 'user', 'list']);
  assert.deepEqual((JSON.parse(listed.stdout) as Array<{ login: string }>).map((user) => user.login), ['john@example.org']);
});
