import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  AccountSuspendedException,
  BadRequestException,
  MailFromDomainNotVerifiedException,
  MessageRejected,
  SendEmailCommand,
  SendingPausedException,
  SESv2Client,
  SESv2ServiceException,
  TooManyRequestsException,
  type SESv2ClientConfig,
  type SendEmailCommandInput,
} from '@aws-sdk/client-sesv2';
import { startLocalSesEndpoint, type LocalSesEndpoint, type SesFault } from '../../../relay/local/ses-endpoint.ts';
import { until } from '../../support/until.ts';

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const MESSAGE_ID = /^0100[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-000000$/;
/** Makes the SDK give up on an unanswered request; `requestTimeout` alone only logs a warning. */
const GIVE_UP_AFTER_200_MS = { requestTimeout: 200, throwOnRequestTimeout: true };
/** For tests that hold requests open: a regression fails them instead of stalling the run. */
const HANG_GUARD_MS = 10_000;

/** Headers, CRLF lines, a bare LF, a bare CR, then every byte value 0..255: nothing may be normalised. */
const RAW = Buffer.concat([
  Buffer.from(
    'From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n' +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
      'Gr\xfc\xdfe aus K\xf6ln\r\nbare LF follows\nand a bare CR\r',
    'latin1',
  ),
  Buffer.from(Array.from({ length: 256 }, (_, byte) => byte)),
  Buffer.from('\r\n.\r\n', 'latin1'),
]);

interface Started {
  readonly ses: LocalSesEndpoint;
  readonly outboxDir: string;
}

const cleanups = new WeakMap<TestContext, Array<() => unknown>>();

/** Runs cleanups last-registered first (`t.after` alone runs them in registration order): an endpoint closes before its directory goes. */
function defer(t: TestContext, cleanup: () => unknown): void {
  let pending = cleanups.get(t);
  if (pending === undefined) {
    const list: Array<() => unknown> = [];
    t.after(async () => {
      for (const run of list.reverse()) {
        await run();
      }
    });
    cleanups.set(t, list);
    pending = list;
  }
  pending.push(cleanup);
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ses-endpoint-test-'));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A disk-mode endpoint in a fresh temp dir; `env: {}` keeps a developer's LOCAL_SES_FAULT out of the tests. */
async function start(t: TestContext, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const outboxDir = await tempDir(t);
  const ses = await startLocalSesEndpoint({ outboxDir, env });
  defer(t, () => ses.close());
  return { ses, outboxDir };
}

function client(t: TestContext, url: string, config: SESv2ClientConfig = {}): SESv2Client {
  const ses = new SESv2Client({ endpoint: url, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1, ...config });
  defer(t, () => ses.destroy());
  return ses;
}

function sendEmail(overrides: Partial<SendEmailCommandInput> = {}, raw: Uint8Array = RAW): SendEmailCommand {
  return new SendEmailCommand({
    FromEmailAddress: 'alice@example.org',
    Destination: { ToAddresses: ['bob@example.net'] },
    Content: { Raw: { Data: raw } },
    ...overrides,
  });
}

async function outbox(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

async function readRecord(dir: string, messageId: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dir, `${messageId}.json`), 'utf8')) as Record<string, unknown>;
}


async function post(url: string, body: string): Promise<Response> {
  return fetch(`${url}/v2/email/outbound-emails`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

test('stores the raw bytes exactly as sent, with the envelope in a JSON file beside them', async (t) => {
  const { ses, outboxDir } = await start(t);
  const before = Date.now();
  const out = await client(t, ses.url).send(
    sendEmail({
      Destination: {
        ToAddresses: ['bob@example.net', 'carol@example.net'],
        CcAddresses: ['dave@example.net'],
        BccAddresses: ['erin@example.net'],
      },
      ConfigurationSetName: 'relay-events',
      EmailTags: [
        { Name: 'user', Value: 'alice_example_org' },
        { Name: 'relay', Value: 'local' },
      ],
    }),
  );

  const id = out.MessageId ?? '';
  assert.match(id, MESSAGE_ID);
  assert.deepEqual(await outbox(outboxDir), [`${id}.eml`, `${id}.json`]);
  assert.deepEqual(await readFile(join(outboxDir, `${id}.eml`)), RAW);
  const record = await readRecord(outboxDir, id);
  const receivedAt = Date.parse(String(record.receivedAt));
  assert.ok(receivedAt >= before - 1 && receivedAt <= Date.now(), `receivedAt ${String(record.receivedAt)}`);
  assert.equal(new Date(receivedAt).toISOString(), record.receivedAt);
  assert.match(String(record.sdkInvocationId), /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    { ...record, receivedAt: undefined, sdkInvocationId: undefined },
    {
      messageId: id,
      receivedAt: undefined,
      from: 'alice@example.org',
      destinations: ['bob@example.net', 'carol@example.net', 'dave@example.net', 'erin@example.net'],
      to: ['bob@example.net', 'carol@example.net'],
      cc: ['dave@example.net'],
      bcc: ['erin@example.net'],
      configurationSet: 'relay-events',
      tags: [
        { name: 'user', value: 'alice_example_org' },
        { name: 'relay', value: 'local' },
      ],
      size: RAW.length,
      sdkInvocationId: undefined,
      sdkAttempt: 'attempt=1; max=1',
    },
  );
  assert.deepEqual(ses.stats(), {
    requests: 1,
    accepted: 1,
    acceptedBytes: RAW.length,
    acceptedUnanswered: 0,
    failed: 0,
    unanswered: 0,
    errors: {},
  });
});

test('records no sender when FromEmailAddress is absent (the null sender)', async (t) => {
  const { ses, outboxDir } = await start(t);
  const out = await client(t, ses.url).send(sendEmail({ FromEmailAddress: undefined }));

  const record = await readRecord(outboxDir, out.MessageId ?? '');
  assert.equal('from' in record, false);
  assert.equal('configurationSet' in record, false);
  assert.deepEqual(record.destinations, ['bob@example.net']);
  assert.deepEqual(record.tags, []);
});

test('stores concurrent messages each under its own id, every envelope beside a complete message', async (t) => {
  const { ses, outboxDir } = await start(t);
  const sender = client(t, ses.url);
  const bodies = Array.from({ length: 25 }, (_, n) => Buffer.concat([RAW, Buffer.from(`message ${n}\r\n`)]));

  const ids = await Promise.all(bodies.map(async (raw) => (await sender.send(sendEmail({}, raw))).MessageId ?? ''));

  assert.equal(new Set(ids).size, 25);
  const files = await outbox(outboxDir);
  assert.equal(files.length, 50, 'one .eml and one .json each, no temporary file left');
  for (const [n, id] of ids.entries()) {
    assert.deepEqual(await readFile(join(outboxDir, `${id}.eml`)), bodies[n]);
    assert.equal((await readRecord(outboxDir, id)).size, bodies[n]?.length);
  }
});

const ERROR_FAULTS: ReadonlyArray<{
  fault: SesFault;
  type: abstract new (...args: never[]) => SESv2ServiceException;
  name: string;
  status: number;
  fault$: 'client' | 'server';
  message: RegExp;
}> = [
  { fault: 'throttle', type: TooManyRequestsException, name: 'TooManyRequestsException', status: 429, fault$: 'client', message: /^Maximum sending rate exceeded\.$/ },
  { fault: 'internal', type: SESv2ServiceException, name: 'InternalFailure', status: 500, fault$: 'server', message: /unknown error/ },
  { fault: 'unavailable', type: SESv2ServiceException, name: 'ServiceUnavailable', status: 503, fault$: 'server', message: /temporary failure/ },
  {
    fault: 'reject',
    type: MessageRejected,
    name: 'MessageRejected',
    status: 400,
    fault$: 'client',
    message: /^Email address is not verified\. The following identities failed the check in region US-EAST-1: alice@example\.org$/,
  },
  {
    fault: 'mail-from-not-verified',
    type: MailFromDomainNotVerifiedException,
    name: 'MailFromDomainNotVerifiedException',
    status: 400,
    fault$: 'client',
    message: /MAIL FROM domain/,
  },
  { fault: 'account-suspended', type: AccountSuspendedException, name: 'AccountSuspendedException', status: 400, fault$: 'client', message: /suspended/ },
  { fault: 'sending-paused', type: SendingPausedException, name: 'SendingPausedException', status: 400, fault$: 'client', message: /paused/ },
];

for (const expected of ERROR_FAULTS) {
  test(`fault ${expected.fault}: the SDK throws ${expected.name} (${expected.status}) and nothing is stored`, async (t) => {
    const { ses, outboxDir } = await start(t);
    const sender = client(t, ses.url);
    ses.faults.arm(expected.fault, 1);

    await assert.rejects(sender.send(sendEmail()), (error: unknown) => {
      assert.ok(error instanceof expected.type, `${String(error)} is not a ${expected.type.name}`);
      assert.equal(error.name, expected.name);
      assert.equal(error.$fault, expected.fault$);
      assert.equal(error.$metadata.httpStatusCode, expected.status);
      assert.match(error.message, expected.message);
      assert.match(error.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
      return true;
    });
    assert.deepEqual(await outbox(outboxDir), []);
    assert.equal(ses.stats().failed, 1);
    assert.deepEqual(ses.stats().errors, { [expected.name]: 1 });

    await sender.send(sendEmail());
    assert.equal(ses.stats().accepted, 1, 'a count of 1 is used up by one request');
  });
}

test('a fault armed with a count applies to that many requests; without a count to every request until cleared', async (t) => {
  const { ses } = await start(t);
  const sender = client(t, ses.url);

  ses.faults.arm('throttle', 2);
  await assert.rejects(sender.send(sendEmail()), TooManyRequestsException);
  assert.deepEqual(ses.faults.current(), { fault: 'throttle', remaining: 1 });
  await assert.rejects(sender.send(sendEmail()), TooManyRequestsException);
  assert.equal(ses.faults.current(), undefined);
  await sender.send(sendEmail());

  ses.faults.arm('reject');
  for (let n = 0; n < 3; n++) {
    await assert.rejects(sender.send(sendEmail()), MessageRejected);
  }
  ses.faults.clear();
  await sender.send(sendEmail());
  assert.deepEqual(ses.stats().errors, { TooManyRequestsException: 2, MessageRejected: 3 });
  assert.equal(ses.stats().accepted, 2);
});

test('the SDK, left with its default retries, resends a throttled request; each attempt is counted', async (t) => {
  const { ses, outboxDir } = await start(t);
  ses.faults.arm('throttle', 1);

  const out = await client(t, ses.url, { maxAttempts: undefined }).send(sendEmail());

  assert.equal(out.$metadata.attempts, 2);
  assert.deepEqual(
    { requests: ses.stats().requests, failed: ses.stats().failed, accepted: ses.stats().accepted },
    { requests: 2, failed: 1, accepted: 1 },
  );
  assert.equal((await readRecord(outboxDir, out.MessageId ?? '')).sdkAttempt, 'attempt=2; max=3');
});

test('arms a fault from LOCAL_SES_FAULT and LOCAL_SES_FAULT_COUNT at start, and says so in the start line', async (t) => {
  const outboxDir = await tempDir(t);
  const lines: string[] = [];
  const ses = await startLocalSesEndpoint({
    outboxDir,
    env: { LOCAL_SES_FAULT: 'reject', LOCAL_SES_FAULT_COUNT: '1' },
    log: (line) => lines.push(line),
  });
  defer(t, () => ses.close());
  const sender = client(t, ses.url);

  await assert.rejects(sender.send(sendEmail()), MessageRejected);
  await sender.send(sendEmail());
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', new RegExp(`listening on ${ses.url}.*fault reject armed for 1 request`));
});

test('arms a fault from LOCAL_SES_FAULT for every request when no count is given', async (t) => {
  const { ses } = await start(t, { LOCAL_SES_FAULT: 'delay:1', LOCAL_SES_FAULT_COUNT: '' });

  assert.deepEqual(ses.faults.current(), { fault: 'delay:1', remaining: null });
});

test('refuses to start on an unknown fault or a bad count in the environment', async (t) => {
  const outboxDir = await tempDir(t);
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ LOCAL_SES_FAULT: 'throtle' }, /unknown fault "throtle"/],
    [{ LOCAL_SES_FAULT: 'delay:soon' }, /unknown fault "delay:soon"/],
    [{ LOCAL_SES_FAULT: 'throttle', LOCAL_SES_FAULT_COUNT: '0' }, /positive integer/],
    [{ LOCAL_SES_FAULT: 'throttle', LOCAL_SES_FAULT_COUNT: 'two' }, /positive integer/],
    [{ LOCAL_SES_FAULT_COUNT: '1' }, /LOCAL_SES_FAULT is not/],
  ];
  for (const [env, message] of cases) {
    const starting = startLocalSesEndpoint({ outboxDir, env });
    // Should one start after all, close it: a leaked server would keep the test run alive.
    defer(t, () => starting.then((ses) => ses.close(), () => undefined));
    await assert.rejects(starting, message, JSON.stringify(env));
  }
});

test('the control routes arm, show and clear a fault and report the counters', async (t) => {
  const { ses } = await start(t);
  const sender = client(t, ses.url);
  const control = async (method: string, route: string, body?: unknown): Promise<[number, unknown]> => {
    const response = await fetch(`${ses.url}/_control/${route}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return [response.status, await response.json()];
  };

  assert.deepEqual(await control('POST', 'fault', { fault: 'sending-paused', count: 2 }), [200, { fault: 'sending-paused', remaining: 2 }]);
  await assert.rejects(sender.send(sendEmail()), SendingPausedException);
  assert.deepEqual(await control('GET', 'fault'), [200, { fault: 'sending-paused', remaining: 1 }]);
  assert.deepEqual(await control('DELETE', 'fault'), [200, { fault: null, remaining: null }]);
  await sender.send(sendEmail());
  assert.deepEqual(await control('POST', 'fault', { fault: 'timeout' }), [200, { fault: 'timeout', remaining: null }]);
  assert.deepEqual(await control('DELETE', 'fault'), [200, { fault: null, remaining: null }]);

  assert.deepEqual(await control('GET', 'stats'), [
    200,
    { requests: 2, accepted: 1, acceptedBytes: RAW.length, acceptedUnanswered: 0, failed: 1, unanswered: 0, errors: { SendingPausedException: 1 } },
  ]);
  const [badFault, badFaultBody] = await control('POST', 'fault', { fault: 'explode' });
  assert.equal(badFault, 400);
  assert.match(JSON.stringify(badFaultBody), /unknown fault \\"explode\\"/);
  assert.equal((await control('POST', 'fault', { fault: 'throttle', count: 0 }))[0], 400);
  assert.equal((await control('POST', 'fault', { fault: 'throttle', count: '1' }))[0], 400);
  assert.equal((await control('POST', 'fault', 'throttle'))[0], 400);
  assert.equal((await control('GET', 'faults'))[0], 404);
  assert.equal(ses.faults.current(), undefined, 'a refused control request arms nothing');
  assert.equal(ses.stats().requests, 2, 'control requests are not SendEmail requests');
});

test('fault timeout: never answered and nothing stored, so the client times out', { timeout: HANG_GUARD_MS }, async (t) => {
  const { ses, outboxDir } = await start(t);
  ses.faults.arm('timeout', 1);

  await assert.rejects(client(t, ses.url, { requestHandler: GIVE_UP_AFTER_200_MS }).send(sendEmail()), { name: 'TimeoutError' });

  assert.deepEqual(await outbox(outboxDir), []);
  assert.deepEqual(
    { requests: ses.stats().requests, accepted: ses.stats().accepted, unanswered: ses.stats().unanswered },
    { requests: 1, accepted: 0, unanswered: 1 },
  );
});

test('fault timeout-after-accept: stored, then never answered', { timeout: HANG_GUARD_MS }, async (t) => {
  const { ses, outboxDir } = await start(t);
  ses.faults.arm('timeout-after-accept', 1);

  await assert.rejects(client(t, ses.url, { requestHandler: GIVE_UP_AFTER_200_MS }).send(sendEmail()), { name: 'TimeoutError' });

  const files = await outbox(outboxDir);
  assert.equal(files.length, 2);
  assert.deepEqual(await readFile(join(outboxDir, files[0] ?? '')), RAW);
  assert.deepEqual(
    { accepted: ses.stats().accepted, acceptedUnanswered: ses.stats().acceptedUnanswered, unanswered: ses.stats().unanswered },
    { accepted: 1, acceptedUnanswered: 1, unanswered: 0 },
  );
});

test('fault timeout-after-accept: a client that retries its timeout sends the message twice', { timeout: HANG_GUARD_MS }, async (t) => {
  const { ses, outboxDir } = await start(t);
  ses.faults.arm('timeout-after-accept', 1);

  const out = await client(t, ses.url, { maxAttempts: 2, requestHandler: GIVE_UP_AFTER_200_MS }).send(sendEmail());

  const ids = (await outbox(outboxDir)).filter((file) => file.endsWith('.json')).map((file) => file.slice(0, -'.json'.length));
  assert.equal(ids.length, 2);
  assert.ok(ids.includes(out.MessageId ?? ''));
  const records = await Promise.all(ids.map((id) => readRecord(outboxDir, id)));
  assert.equal(records[0]?.sdkInvocationId, records[1]?.sdkInvocationId, 'one SDK call');
  assert.deepEqual(records.map((record) => record.sdkAttempt).sort(), ['attempt=1; max=2', 'attempt=2; max=2']);
  for (const id of ids) {
    assert.deepEqual(await readFile(join(outboxDir, `${id}.eml`)), RAW);
  }
});

test('fault delay:<ms>: answered normally after the delay', { timeout: HANG_GUARD_MS }, async (t) => {
  const { ses, outboxDir } = await start(t);
  ses.faults.arm('delay:300', 1);
  const started = Date.now();

  const out = await client(t, ses.url).send(sendEmail());

  assert.ok(Date.now() - started >= 290, `answered after ${Date.now() - started} ms`);
  assert.deepEqual(await outbox(outboxDir), [`${out.MessageId}.eml`, `${out.MessageId}.json`]);
});

test('close() ends promptly while requests are held by timeout and delay faults', { timeout: HANG_GUARD_MS }, async (t) => {
  const { ses, outboxDir } = await start(t);
  const sender = client(t, ses.url);
  ses.faults.arm('timeout', 2);
  const held = [sender.send(sendEmail()), sender.send(sendEmail())].map((sent) => sent.then(() => 'answered', (error: Error) => error.name));
  await until(() => ses.stats().requests === 2, 'two held requests');
  ses.faults.arm('delay:60000', 1);
  const delayed = sender.send(sendEmail()).then(() => 'answered', (error: Error) => error.name);
  await until(() => ses.stats().requests === 3, 'the delayed request');

  const started = Date.now();
  await ses.close();

  assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
  // The SDK reports a connection closed under it as a TimeoutError (ECONNRESET).
  assert.deepEqual(await Promise.all([...held, delayed]), ['TimeoutError', 'TimeoutError', 'TimeoutError']);
  assert.deepEqual(await outbox(outboxDir), []);
  assert.equal(ses.stats().unanswered, 3);
  await ses.close();
});

test('in memory mode writes no file, counts messages and bytes, and keeps the last keepLast messages', async (t) => {
  const outboxDir = await tempDir(t);
  const ses = await startLocalSesEndpoint({ keepInMemory: true, outboxDir, keepLast: 2, env: {} });
  defer(t, () => ses.close());
  const sender = client(t, ses.url);
  const bodies = [RAW, Buffer.from('Subject: two\r\n\r\n2\r\n'), Buffer.from('Subject: three\r\n\r\n3\r\n')];

  const ids: string[] = [];
  for (const raw of bodies) {
    ids.push((await sender.send(sendEmail({}, raw))).MessageId ?? '');
  }

  assert.deepEqual(await readdir(outboxDir), []);
  assert.equal(ses.stats().accepted, 3);
  assert.equal(ses.stats().acceptedBytes, bodies.reduce((sum, raw) => sum + raw.length, 0));
  const recent = ses.recentMessages();
  assert.deepEqual(
    recent.map((message) => message.messageId),
    ids.slice(1),
  );
  assert.deepEqual(
    recent.map((message) => message.raw),
    bodies.slice(1),
  );
  assert.deepEqual(recent[1]?.destinations, ['bob@example.net']);
});

test('in memory mode needs no outbox directory and keeps no message by default', async (t) => {
  const ses = await startLocalSesEndpoint({ keepInMemory: true, env: {} });
  defer(t, () => ses.close());

  await client(t, ses.url).send(sendEmail());

  assert.equal(ses.stats().accepted, 1);
  assert.deepEqual(ses.recentMessages(), []);
});

test('recipients: 50 across To, Cc and Bcc are accepted, 51 or none are refused as SES does', async (t) => {
  const { ses, outboxDir } = await start(t);
  const sender = client(t, ses.url);
  const addresses = (count: number, prefix: string): string[] => Array.from({ length: count }, (_, n) => `${prefix}${n}@example.net`);

  const out = await sender.send(
    sendEmail({ Destination: { ToAddresses: addresses(20, 'to'), CcAddresses: addresses(20, 'cc'), BccAddresses: addresses(10, 'bcc') } }),
  );
  assert.equal(((await readRecord(outboxDir, out.MessageId ?? '')).destinations as string[]).length, 50);

  await assert.rejects(
    sender.send(sendEmail({ Destination: { ToAddresses: addresses(20, 'to'), CcAddresses: addresses(20, 'cc'), BccAddresses: addresses(11, 'bcc') } })),
    (error: unknown) => error instanceof BadRequestException && error.message === 'Recipient count exceeds 50.',
  );
  await assert.rejects(sender.send(sendEmail({ Destination: { ToAddresses: [] } })), BadRequestException);
  await assert.rejects(sender.send(sendEmail({ Destination: undefined })), BadRequestException);
  assert.equal(ses.stats().accepted, 1);
});

test('size: a 40 MiB message is accepted, one byte more is refused with MessageRejected', async (t) => {
  const ses = await startLocalSesEndpoint({ keepInMemory: true, env: {} });
  defer(t, () => ses.close());
  const sender = client(t, ses.url);
  const limit = 40 * 1024 * 1024;

  await sender.send(sendEmail({}, Buffer.alloc(limit, 'a')));
  await assert.rejects(
    sender.send(sendEmail({}, Buffer.alloc(limit + 1, 'a'))),
    (error: unknown) => error instanceof MessageRejected && error.message === `Message length is more than ${limit} bytes long: '${limit + 1}'.`,
  );
  assert.deepEqual({ accepted: ses.stats().accepted, acceptedBytes: ses.stats().acceptedBytes }, { accepted: 1, acceptedBytes: limit });
});

test('a request body longer than any valid request is answered MessageRejected, not cut off', async (t) => {
  const { ses, outboxDir } = await start(t);

  const response = await post(ses.url, `{"Destination":{"ToAddresses":["bob@example.net"]},"Content":{"Raw":{"Data":"${'A'.repeat(58 * 1024 * 1024)}"}}}`);

  assert.equal(response.status, 400);
  assert.equal(response.headers.get('x-amzn-errortype'), 'MessageRejected');
  assert.match(((await response.json()) as { message: string }).message, /^Message length is more than 41943040 bytes long/);
  assert.deepEqual(await outbox(outboxDir), []);
});

test('malformed requests: not JSON or not base64 is a SerializationException, other content a BadRequestException', async (t) => {
  const { ses, outboxDir } = await start(t);
  const raw = (data: string): string => JSON.stringify({ Destination: { ToAddresses: ['bob@example.net'] }, Content: { Raw: { Data: data } } });

  for (const body of ['{"Content":', raw('not base64!'), raw('QUJD=A=='), raw('QUJDRA'), JSON.stringify({ Destination: { ToAddresses: 'bob@example.net' } })]) {
    const response = await post(ses.url, body);
    assert.equal(response.status, 400, body.slice(0, 60));
    assert.equal(response.headers.get('x-amzn-errortype'), 'SerializationException', body.slice(0, 60));
  }
  assert.equal((await post(ses.url, raw('QUJDRA=='))).status, 200, 'the same bytes correctly padded');
  await assert.rejects(
    client(t, ses.url).send(
      new SendEmailCommand({
        Destination: { ToAddresses: ['bob@example.net'] },
        Content: { Simple: { Subject: { Data: 'hi' }, Body: { Text: { Data: 'hi' } } } },
      }),
    ),
    (error: unknown) => error instanceof BadRequestException && /Content\.Raw/.test(error.message),
  );
  assert.equal((await outbox(outboxDir)).length, 2);
  assert.deepEqual(ses.stats().errors, { SerializationException: 5, BadRequestException: 1 });
});

test('other operations are answered UnknownOperationException', async (t) => {
  const { ses } = await start(t);

  const response = await fetch(`${ses.url}/v2/email/account`);

  assert.equal(response.status, 404);
  assert.equal(response.headers.get('x-amzn-errortype'), 'UnknownOperationException');
  assert.equal(ses.stats().requests, 0);
});

test('tags: names and values outside [A-Za-z0-9_-] or over 256 characters are refused as SES does', async (t) => {
  const { ses } = await start(t);
  const sender = client(t, ses.url);

  await sender.send(sendEmail({ EmailTags: [{ Name: 'n'.repeat(256), Value: 'v'.repeat(256) }] }));
  await assert.rejects(
    sender.send(sendEmail({ EmailTags: [{ Name: 'user', Value: 'alice@example.org' }] })),
    (error: unknown) =>
      error instanceof BadRequestException &&
      error.message === "Invalid tag value <alice@example.org>: only alphanumeric ASCII characters, '_', and '-' are allowed.",
  );
  await assert.rejects(sender.send(sendEmail({ EmailTags: [{ Name: 'n'.repeat(257), Value: 'v' }] })), BadRequestException);
  await assert.rejects(sender.send(sendEmail({ EmailTags: [{ Name: 'user', Value: 'v'.repeat(257) }] })), BadRequestException);
  await assert.rejects(sender.send(sendEmail({ EmailTags: [{ Name: 'a:b', Value: 'v' }] })), BadRequestException);
  assert.equal(ses.stats().accepted, 1);
});

test('faults apply to valid requests only: an invalid request gets its own error and leaves the fault armed', async (t) => {
  const { ses } = await start(t);
  const sender = client(t, ses.url);
  ses.faults.arm('throttle', 1);

  await assert.rejects(sender.send(sendEmail({ Destination: { ToAddresses: [] } })), BadRequestException);
  await assert.rejects(sender.send(sendEmail()), TooManyRequestsException);
});

test('the log receives the start line only, never message content', async (t) => {
  const outboxDir = await tempDir(t);
  const lines: string[] = [];
  const ses = await startLocalSesEndpoint({ outboxDir, env: {}, log: (line) => lines.push(line) });
  defer(t, () => ses.close());
  const sender = client(t, ses.url);

  await sender.send(sendEmail({}, Buffer.from('Subject: secret-subject-1234\r\n\r\nbody\r\n')));
  ses.faults.arm('reject', 1);
  await assert.rejects(sender.send(sendEmail()), MessageRejected);

  assert.deepEqual(lines, [`local SES endpoint listening on ${ses.url}, outbox ${outboxDir}`]);
});
