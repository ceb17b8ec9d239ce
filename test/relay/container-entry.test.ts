import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { hashPassword } from '../../lambda/password-hash.ts';
import { createPolicyHandler } from '../../lambda/policy-handler.ts';
import { UserStore } from '../../lambda/user-store.ts';
import { localDynamoDbClient, startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';
import { ensureLocalTables } from '../../relay/local/local-tables.ts';
import { startLocalLambdaEndpoint, type LocalLambdaEndpoint } from '../../relay/local/lambda-endpoint.ts';
import { ensureSelfSignedCertificate } from '../../relay/local/self-signed-certificate.ts';
import { startLocalSesEndpoint, type LocalSesEndpoint } from '../../relay/local/ses-endpoint.ts';

const run = promisify(execFile);
const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

/**
 * The container entry exactly as the Dockerfile builds it (the esbuild bundle
 * of relay/main.ts), started with production settings where only the AWS
 * endpoints and credentials point at the local stand-ins: the proof that the
 * code that runs here is the code that runs in AWS.
 */
describe('container entry (dist/relay/main.mjs) against AWS stand-ins', () => {
  let dir: string;
  let dynamo: EmbeddedDynamoDb;
  let lambda: LocalLambdaEndpoint;
  let ses: LocalSesEndpoint;
  let relay: ChildProcess;
  let stdout = '';
  let ports: { submissionPort: number; submissionsPort: number; healthPort: number };

  before(async () => {
    await run('npm', ['run', '-s', 'build:relay'], { cwd: path.resolve(import.meta.dirname, '../..') });
    dir = await mkdtemp(path.join(tmpdir(), 'relay-container-'));
    dynamo = await startEmbeddedDynamoDb(undefined);
    const store = new UserStore(localDynamoDbClient(dynamo.endpoint), 'users');
    await ensureLocalTables(localDynamoDbClient(dynamo.endpoint), { users: 'users', counters: 'counters' });
    await store.createUser(USER, await hashPassword(PASSWORD));
    lambda = await startLocalLambdaEndpoint({ handler: createPolicyHandler(store), functionName: 'relay-policy' });
    ses = await startLocalSesEndpoint({ outboxDir: path.join(dir, 'outbox') });
    const certificate = await ensureSelfSignedCertificate(dir, 'localhost');

    relay = spawn(process.execPath, ['dist/relay/main.mjs'], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_LAMBDA: lambda.url,
        AWS_ENDPOINT_URL_SESV2: ses.url,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        POLICY_FUNCTION_NAME: 'relay-policy',
        COUNTERS_TABLE: 'counters',
        TLS_CERT_PEM: certificate.cert.toString(),
        TLS_KEY_PEM: certificate.key.toString(),
        RELAY_LISTEN: '127.0.0.1',
        RELAY_HOSTNAME: 'relay.test',
        SUBMISSION_PORT: '0',
        SUBMISSIONS_PORT: '0',
        HEALTH_PORT: '0',
        RECIPIENT_DOMAIN_CHECK: 'off',
        SHUTDOWN_GRACE_SECONDS: '5',
        STAGE: 'test',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    relay.stdout!.setEncoding('utf8');
    relay.stdout!.on('data', (chunk: string) => (stdout += chunk));
    const started = await new Promise<Record<string, number>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start line: ${stdout}`)), 15_000);
      relay.stdout!.on('data', () => {
        const line = stdout.split('\n').find((l) => l.includes('"event":"start"'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as Record<string, number>);
        }
      });
    });
    ports = { submissionPort: started.submissionPort!, submissionsPort: started.submissionsPort!, healthPort: started.healthPort! };
  });

  after(async () => {
    if (relay.exitCode === null) relay.kill('SIGKILL');
    await Promise.all([lambda.close(), ses.close(), dynamo.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  test('the health check answers 200 over HTTP, on its own port', async () => {
    const response = await fetch(`http://127.0.0.1:${ports.healthPort}/healthz`);
    assert.equal(response.status, 200);
  });

  test('a message goes in over STARTTLS and out through SES, the policy reached by Lambda Invoke', async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: ports.submissionPort,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: USER, pass: PASSWORD },
    });
    const info = await transport.sendMail({ from: USER, to: 'someone@example.net', bcc: 'hidden@example.net', subject: 'from the bundle', text: 'hi' });
    transport.close();
    const id = /queued as (\S+)/.exec(info.response ?? '')?.[1];
    const meta = JSON.parse(await readFile(path.join(dir, 'outbox', `${id}.json`), 'utf8')) as { destinations: string[] };
    assert.deepEqual(meta.destinations, ['someone@example.net', 'hidden@example.net']);
    assert.equal(lambda.stats().requests, 1, 'AUTH went through Invoke; MAIL FROM the login itself needs no call');
  });

  test('SIGTERM: the health check turns 503, the process drains, flushes its metrics and exits 0', async () => {
    const exited = once(relay, 'exit');
    relay.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const health = await fetch(`http://127.0.0.1:${ports.healthPort}/healthz`).then((r) => r.status, () => 'closed');
    assert.ok(health === 503 || health === 'closed', String(health));
    const [code] = await exited;
    assert.equal(code, 0);
    const emf = stdout.split('\n').filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(emf.some((document) => document.MessagesAccepted === 1), stdout);
    assert.ok((await readdir(path.join(dir, 'outbox'))).length >= 2);
  });
});
