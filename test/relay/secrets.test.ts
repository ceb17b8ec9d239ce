/**
 * No password, AUTH token, password hash or TLS private key in any log line,
 * error or output (issue 4, item 5). Known secrets go through every path a
 * secret takes, then every byte anything wrote is searched for them:
 * - `npm start` as a child process (direct policy, LOG_LEVEL=debug): its stdout
 *   (the JSON log) and stderr;
 * - `relayctl user add|passwd --password-stdin` against that running stack: its
 *   stdout and stderr, including a refused add;
 * - the local stack in this process with the policy behind the Lambda stand-in
 *   (function errors, a throwing handler, timeouts): the relay's log, and the
 *   function error payloads the stand-in answers (what Lambda would log);
 * - every SMTP reply the clients got, and whatever this test process wrote.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { createPolicyHandler } from '../../lambda/policy-handler.ts';
import { UserStore } from '../../lambda/user-store.ts';
import { createLambdaClient } from '../../relay/aws-clients.ts';
import { LOCAL_USERS_TABLE, localDynamoDbClient } from '../../relay/local/embedded-dynamodb.ts';
import { startLocalStack } from '../../relay/local/local-stack.ts';
import { ensureSelfSignedCertificate } from '../../relay/local/self-signed-certificate.ts';
import { loadTlsCredentials } from '../../relay/tls-credentials.ts';
import { relayctl, type CliRun } from '../bin/relayctl-process.ts';
import { startLocalRelayProcess, type LocalRelayProcess } from '../faults/local-relay-process.ts';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { SmtpDialogue, plainToken, type SmtpReply } from '../support/smtp-dialogue.ts';

const LOGIN = 'carol@example.org';
// Letters, digits and dashes only: JSON and the log write them as they are, so a plain search finds them.
const PASSWORD = 'Carol-Secret-Pw-7f3a9c2e';
const NEW_PASSWORD = 'Carol-Changed-Pw-41d8b0aa';
const WRONG_PASSWORD = 'Wrong-Secret-Pw-c91e5b77';
/** Over the policy's 1 KiB bound: the request is invalid and the handler throws. */
const LONG_PASSWORD = `Long-Secret-Pw-${'q8'.repeat(520)}`;
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * Every form a secret could leak in: as is, and in base64 at each of the three
 * alignments it can take inside a longer base64 text (a PLAIN token is one), with
 * the characters that depend on its neighbours cut off.
 */
function leakForms(name: string, secret: string): Array<{ name: string; text: string }> {
  const forms = [{ name, text: secret }];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset, 0x41), Buffer.from(secret, 'utf8')]).toString('base64');
    const core = encoded.slice(Math.ceil((offset * 4) / 3), encoded.length - 4);
    if (core.length >= 12) forms.push({ name: `${name} (base64, offset ${offset})`, text: core });
  }
  return forms;
}

/** The places secrets were searched in, and every text each one produced. */
const captured = new Map<string, string[]>();
function capture(source: string, text: string | undefined): void {
  if (text) captured.set(source, [...(captured.get(source) ?? []), text]);
}

/** Names the secret found and where, never the text around it: a failing test must not print the secret. */
function findLeaks(secrets: ReadonlyArray<{ name: string; text: string }>): string[] {
  const found: string[] = [];
  for (const [source, texts] of captured) {
    for (const secret of secrets) {
      if (texts.some((text) => text.includes(secret.text))) found.push(`${secret.name} in ${source}`);
    }
  }
  return found;
}

/** A failure message may quote a tool's output, never a secret in it (the search below reports those). */
function redacted(text: string): string {
  return [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, LONG_PASSWORD].reduce((out, secret) => out.split(secret).join('<secret>'), text);
}

/** Replies are captured as the client sees them. */
async function said(smtp: SmtpDialogue, line: string): Promise<SmtpReply> {
  const reply = await smtp.command(line, 20_000);
  capture('SMTP replies', reply.text);
  return reply;
}

async function secureSession(port: number): Promise<SmtpDialogue> {
  const smtp = await SmtpDialogue.connect(port);
  capture('SMTP replies', (await smtp.read()).text);
  await said(smtp, 'EHLO client.test');
  const tls = await said(smtp, 'STARTTLS');
  assert.equal(tls.code, 220);
  await smtp.upgrade();
  await said(smtp, 'EHLO client.test');
  return smtp;
}

/** Every way a password reaches the relay, right and wrong, on a fresh session each. */
async function authenticateEveryWay(port: number, password: string): Promise<void> {
  const attempts: Array<[string[], number]> = [
    [[`AUTH PLAIN ${plainToken(LOGIN, password)}`], 235],
    [['AUTH PLAIN', plainToken(LOGIN, password)], 235],
    [['AUTH LOGIN', b64(LOGIN), b64(password)], 235],
    [[`AUTH LOGIN ${b64(LOGIN)}`, b64(password)], 235],
    [[`AUTH PLAIN ${plainToken(LOGIN, WRONG_PASSWORD)}`], 535],
    [['AUTH PLAIN', plainToken(LOGIN, WRONG_PASSWORD)], 535],
    [['AUTH LOGIN', b64(LOGIN), b64(WRONG_PASSWORD)], 535],
    // An authorization identity other than the login: refused before any lookup.
    [[`AUTH PLAIN ${plainToken(LOGIN, password, 'admin@example.org')}`], 535],
    // Cancelled at the password prompt: the secret never came.
    [['AUTH LOGIN', b64(LOGIN), '*'], 501],
    // Over the policy's bound: an invalid policy request.
    [[`AUTH PLAIN ${plainToken(LOGIN, LONG_PASSWORD)}`], 0],
    [['AUTH LOGIN', b64(LOGIN), b64(LONG_PASSWORD)], 0],
  ];
  for (const [lines, expected] of attempts) {
    const smtp = await secureSession(port);
    let reply: SmtpReply | undefined;
    for (const line of lines) reply = await said(smtp, line);
    // 0: any refusal will do (what an over-long password should get is for the AUTH tests to pin down).
    if (expected === 0) assert.ok(reply && reply.code >= 400, `refused: ${lines[0]}`);
    else assert.equal(reply?.code, expected, lines[0]);
    smtp.close();
  }
}

function secretsOf(keyPem: string, extra: ReadonlyArray<{ name: string; text: string }> = []) {
  const keyLines = keyPem.split('\n').filter((line) => line && !line.startsWith('-----'));
  return [
    ...leakForms('password', PASSWORD),
    ...leakForms('changed password', NEW_PASSWORD),
    ...leakForms('wrong password', WRONG_PASSWORD),
    ...leakForms('over-long password', LONG_PASSWORD.slice(0, 40)),
    { name: 'AUTH PLAIN token', text: plainToken(LOGIN, PASSWORD) },
    { name: 'AUTH PLAIN token (wrong password)', text: plainToken(LOGIN, WRONG_PASSWORD) },
    { name: 'AUTH PLAIN token (with authzid)', text: plainToken(LOGIN, PASSWORD, 'admin@example.org') },
    // Each base64 line of the key on its own: a log that wrapped or cut the PEM still leaks.
    ...keyLines.map((line, index) => ({ name: `TLS private key, PEM line ${index + 1}`, text: line })),
    ...extra,
  ];
}

describe('secrets never reach a log, an error or any output', () => {
  const writes: string[] = [];
  const originalOut = process.stdout.write.bind(process.stdout);
  const originalErr = process.stderr.write.bind(process.stderr);
  let running: LocalRelayProcess;
  let lambdaRelay: TestRelay;

  before(async () => {
    // Whatever this process writes while the secrets go around is captured too (and still written).
    const tee = (original: typeof process.stdout.write) =>
      ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        writes.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return (original as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof process.stdout.write;
    process.stdout.write = tee(originalOut);
    process.stderr.write = tee(originalErr);
    // The AUTH penalty still runs (and logs) on every failure, without making the test wait for it.
    const noPenalty = { AUTH_PENALTY_BASE_MS: '0', AUTH_PENALTY_MAX_MS: '0' };
    running = await startLocalRelayProcess({ LOG_LEVEL: 'debug', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...noPenalty });
    lambdaRelay = await startTestRelay({ policyTransport: 'lambda', env: { POLICY_TIMEOUT_SECONDS: '0.5', POLICY_CACHE_SECONDS: '0', ...noPenalty } });
  });

  after(async () => {
    process.stdout.write = originalOut;
    process.stderr.write = originalErr;
    await running?.dispose();
    await lambdaRelay?.close();
  });

  let hashes: Array<{ name: string; text: string }> = [];

  test('relayctl user add/passwd --password-stdin against the running stack, then every AUTH path', async () => {
    const cli = (args: string[], stdin: string): Promise<CliRun> =>
      relayctl(args, { dataDir: running.dataDir, stdin, env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } }).then((run) => {
        capture('relayctl stdout', run.stdout);
        capture('relayctl stderr', run.stderr);
        return run;
      });
    const added = await cli(['user', 'add', LOGIN, '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(added.code, 0, redacted(added.stderr));
    // Refused (the user exists): the error path must not echo the password either.
    assert.notEqual((await cli(['user', 'add', LOGIN, '--password-stdin'], `${PASSWORD}\n`)).code, 0);
    await authenticateEveryWay(running.submissionPort, PASSWORD);
    const changed = await cli(['user', 'passwd', LOGIN, '--password-stdin'], `${NEW_PASSWORD}\n`);
    assert.equal(changed.code, 0, redacted(changed.stderr));
    await authenticateEveryWay(running.submissionPort, NEW_PASSWORD);
    // The stored hash is a secret too (it can be attacked offline).
    const user = await new UserStore(localDynamoDbClient(running.dynamoEndpoint), LOCAL_USERS_TABLE).getUser(LOGIN);
    assert.ok(user);
    hashes = [{ name: 'password hash', text: user.passwordHash }, { name: 'password hash digest', text: user.passwordHash.split('$').pop() ?? '' }];
  });

  test('the policy behind Lambda: function errors, a throwing handler, a timeout, an invalid request', async () => {
    await lambdaRelay.addUser(LOGIN, PASSWORD);
    const lambda = lambdaRelay.stack.lambda!;
    const dynamo = lambdaRelay.stack.dynamo!;
    await authenticateEveryWay(lambdaRelay.submissionPort, PASSWORD);
    for (const arm of [
      () => lambda.faults.arm('function-error'),
      () => lambda.faults.arm('hang'),
      // The handler itself throws: DynamoDB fails under it.
      () => dynamo.faults.arm('internal@relay-users'),
    ]) {
      arm();
      const smtp = await secureSession(lambdaRelay.submissionPort);
      assert.equal((await said(smtp, `AUTH PLAIN ${plainToken(LOGIN, PASSWORD)}`)).code, 454);
      assert.equal((await said(smtp, 'AUTH LOGIN')).code, 334);
      await said(smtp, b64(LOGIN));
      assert.equal((await said(smtp, b64(PASSWORD))).code, 454);
      smtp.close();
      lambda.faults.clear();
      dynamo.faults.clear();
    }

    // What Lambda itself would log for a failed invocation: the function error payload (message and stack).
    const client = createLambdaClient({ region: 'us-east-1', endpoint: lambda.url, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }, 5_000);
    const invoke = async (event: unknown) => {
      const out = await client.send(new InvokeCommand({ FunctionName: lambda.functionName, Payload: new TextEncoder().encode(JSON.stringify(event)) }));
      capture('Lambda function error payloads', new TextDecoder().decode(out.Payload));
      return out;
    };
    for (const event of [
      { action: 'authenticate', login: LOGIN, password: LONG_PASSWORD, clientAddress: '127.0.0.1' },
      { action: 'authenticate', login: 42, password: PASSWORD, clientAddress: '127.0.0.1' },
      { action: 'authenticate', login: LOGIN, password: PASSWORD },
      { action: 'authorise', login: LOGIN, password: PASSWORD },
      { password: PASSWORD },
    ]) {
      assert.equal((await invoke(event)).FunctionError, 'Unhandled');
    }
    dynamo.faults.arm('internal@relay-users');
    assert.equal((await invoke({ action: 'authenticate', login: LOGIN, password: PASSWORD, clientAddress: '127.0.0.1' })).FunctionError, 'Unhandled');
    dynamo.faults.clear();
    client.destroy();

    // The handler's own error, as the direct policy client wraps it.
    const handler = createPolicyHandler(lambdaRelay.stack.store);
    const thrown = await handler({ action: 'authenticate', login: LOGIN, password: LONG_PASSWORD, clientAddress: '127.0.0.1' }).catch((error: Error) => error);
    assert.ok(thrown instanceof Error);
    capture('policy handler errors', `${String(thrown)}\n${thrown.stack ?? ''}`);
  });

  test('nothing captured holds a secret', async () => {
    await new Promise((resolve) => setTimeout(resolve, 200)); // the relays' logs are asynchronous
    capture('npm start stdout (relay log)', running.stdout());
    capture('npm start stderr', running.stderr());
    capture('relay log (Lambda policy)', lambdaRelay.logText());
    capture('this test process stdout/stderr', writes.join(''));
    // The searches must have something to search: the paths were taken and logged.
    assert.ok(running.logLines().some((line) => line.event === 'auth-failed'), 'the failed AUTHs were logged');
    assert.ok(running.logLines().some((line) => line.event === 'auth'), 'the good AUTHs were logged');
    assert.ok(lambdaRelay.logLines().some((line) => line.event === 'reject' && line.reason === 'auth-unavailable'));
    assert.ok((captured.get('Lambda function error payloads') ?? []).length >= 6);

    const keys = await Promise.all([running.dataDir, lambdaRelay.dataDir].map((dir) => readFile(path.join(dir, 'tls', 'key.pem'), 'utf8')));
    const secrets = [...secretsOf(keys[0]!), ...secretsOf(keys[1]!, hashes)];
    assert.ok(hashes.length > 0, 'the stored hash was read');
    assert.deepEqual(findLeaks(secrets), []);
  });
});

describe('the TLS private key file is checked at start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'relay-key-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a key readable by group or others stops the relay, and the error does not quote the key', async () => {
    const { keyPath, certPath } = await ensureSelfSignedCertificate(dir, 'relay.test');
    const key = await readFile(keyPath, 'utf8');
    const keyBody = key.split('\n').filter((line) => line && !line.startsWith('-----'));
    await chmod(keyPath, 0o640);

    // The container (TLS_*_FILE) ...
    const container = await loadTlsCredentials({ TLS_CERT_FILE: certPath, TLS_KEY_FILE: keyPath }).catch((error: Error) => error);
    assert.ok(container instanceof Error);
    assert.equal(container.message, `TLS key ${keyPath} is readable by group or others (mode 640): chmod 600 ${keyPath}`);
    // ... and the local stack both refuse to start.
    const local = await startLocalStack({
      dataDir: dir,
      dynamoInMemory: true,
      env: { RELAY_LISTEN: '127.0.0.1', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', RELAY_HOSTNAME: 'relay.test' },
    }).catch((error: Error) => error);
    assert.ok(local instanceof Error, 'the local stack refused to start');
    assert.match(local.message, /readable by group or others/);
    for (const error of [container, local]) {
      const text = `${error.message}\n${error.stack ?? ''}`;
      assert.ok(!keyBody.some((line) => text.includes(line)), 'the error does not quote the key');
    }

    await chmod(keyPath, 0o600);
    assert.ok(await loadTlsCredentials({ TLS_CERT_FILE: certPath, TLS_KEY_FILE: keyPath }));
  });
});
