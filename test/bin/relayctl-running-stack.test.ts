import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { endpointFileOf } from '../../relay/local/embedded-dynamodb.ts';
import { startLocalStack, type LocalStack } from '../../relay/local/local-stack.ts';
import { createRelayLog } from '../../relay/relay-log.ts';
import { jsonOf, relayctl } from './relayctl-process.ts';

// Every password here is a fake test password.

interface DoctorJson {
  readonly ok: boolean;
  readonly checks: ReadonlyArray<{ readonly check: string; readonly status: 'ok' | 'warn' | 'fail'; readonly message: string; readonly fix?: string }>;
}

/**
 * The SES v2 routes `doctor` reads, answered as SES does (restJson1). The
 * local SES stand-in (relay/local/ses-endpoint.ts) implements SendEmail only;
 * these are the answers it would need to give for doctor to run against it.
 */
function startSesAccountStandIn(): Promise<{ url: string; requests: string[]; server: Server }> {
  const requests: string[] = [];
  const identities: Record<string, object> = {
    'example.org': {
      IdentityType: 'DOMAIN',
      VerifiedForSendingStatus: true,
      VerificationStatus: 'SUCCESS',
      DkimAttributes: { SigningEnabled: true, Status: 'SUCCESS', Tokens: ['token1', 'token2', 'token3'] },
    },
    'pending.example': {
      IdentityType: 'DOMAIN',
      VerifiedForSendingStatus: false,
      VerificationStatus: 'PENDING',
      DkimAttributes: { SigningEnabled: true, Status: 'PENDING' },
    },
  };
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(`${request.method} ${url.pathname}`);
    const reply = (status: number, body: object, errorType?: string) => {
      response.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-ErrorType': errorType } : {}) });
      response.end(JSON.stringify(body));
    };
    const identity = /^\/v2\/email\/identities\/([^/]+)$/.exec(url.pathname);
    if (request.method === 'GET' && url.pathname === '/v2/email/account') {
      reply(200, {
        SendingEnabled: true,
        ProductionAccessEnabled: false,
        EnforcementStatus: 'HEALTHY',
        DedicatedIpAutoWarmupEnabled: false,
        SendQuota: { Max24HourSend: 200, MaxSendRate: 1, SentLast24Hours: 190 },
      });
    } else if (request.method === 'GET' && identity && identities[decodeURIComponent(identity[1]!)]) {
      reply(200, identities[decodeURIComponent(identity[1]!)]!);
    } else if (request.method === 'GET' && identity) {
      reply(404, { message: `Email identity ${decodeURIComponent(identity[1]!)} does not exist.` }, 'NotFoundException');
    } else {
      reply(404, { message: 'no such route' }, 'UnknownOperationException');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server })));
}

describe('relayctl while npm start runs', () => {
  let stack: LocalStack;
  let dataDir: string;
  let ca: Buffer;
  const submission = (auth: { user: string; pass: string }, implicitTls = false) =>
    nodemailer.createTransport({
      host: '127.0.0.1',
      port: implicitTls ? stack.relay.submissionsPort : stack.relay.submissionPort,
      secure: implicitTls,
      requireTLS: !implicitTls,
      tls: { ca, servername: 'localhost' },
      auth,
    });

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'relayctl-stack-'));
    stack = await startLocalStack({
      dataDir,
      // No permit cache: a disable must show at the very next login here.
      env: { RELAY_LISTEN: '127.0.0.1', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', POLICY_CACHE_SECONDS: '0' },
      log: createRelayLog('silent'),
    });
    ca = await readFile(stack.certPath);
  });
  after(async () => {
    await stack?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("relayctl uses the running stack's store: a new user logs in at once and sends as what it is granted", async () => {
    const endpointFile = await readFile(endpointFileOf(dataDir), 'utf8');
    assert.equal(endpointFile.trim(), stack.dynamoEndpoint);

    const added = await relayctl(['user', 'add', 'john@example.org', '--password-stdin'], { dataDir, stdin: 'john fake password\n' });
    assert.equal(added.code, 0, added.stderr);
    // The stack's own store object sees the user: relayctl wrote through the stack's endpoint
    // (opening the store files itself is impossible while the stack holds them).
    assert.ok(await stack.store.getUser('john@example.org'));
    assert.equal(await readFile(endpointFileOf(dataDir), 'utf8'), endpointFile, 'the endpoint file is left as the stack wrote it');

    const john = submission({ user: 'john@example.org', pass: 'john fake password' });
    assert.equal(await john.verify(), true);
    const sent = await john.sendMail({ from: 'john@example.org', to: 'someone@example.net', subject: 'hello', text: 'from relayctl test' });
    assert.match(sent.response, /^250 /);
    assert.deepEqual(sent.accepted, ['someone@example.net']);

    await assert.rejects(john.sendMail({ from: 'sales@example.org', to: 'someone@example.net', subject: 'x', text: 'x' }), /553/);
    const granted = await relayctl(['sender', 'grant', 'john@example.org', 'sales@example.org'], { dataDir });
    assert.equal(granted.code, 0, granted.stderr);
    const asSales = await john.sendMail({ from: 'sales@example.org', to: 'someone@example.net', subject: 'x', text: 'x' });
    assert.match(asSales.response, /^250 /);
    john.close();

    const disabled = await relayctl(['user', 'disable', 'john@example.org'], { dataDir });
    assert.equal(disabled.code, 0, disabled.stderr);
    const refused = submission({ user: 'john@example.org', pass: 'john fake password' });
    await assert.rejects(refused.verify(), /535/);
    refused.close();

    const jane = await relayctl(['--json', 'user', 'add', 'jane@example.org'], { dataDir });
    const { password } = jsonOf<{ password: string }>(jane);
    const janeClient = submission({ user: 'jane@example.org', pass: password }, true);
    assert.equal(await janeClient.verify(), true, 'the generated password works on the implicit-TLS port');
    janeClient.close();
  });

  test('doctor finds the running local stack healthy', async () => {
    const run = await relayctl(['--json', 'doctor'], {
      dataDir,
      env: { SUBMISSION_PORT: String(stack.relay.submissionPort), SUBMISSIONS_PORT: String(stack.relay.submissionsPort) },
    });
    const report = jsonOf<DoctorJson>(run);
    assert.equal(report.ok, true);
    assert.deepEqual(report.checks.map((check) => [check.check, check.status]), [
      ['data dir', 'ok'],
      ['store', 'ok'],
      ['tls certificate', 'ok'],
      ['tls key', 'ok'],
      ['submission port', 'ok'],
      ['submissions port', 'ok'],
    ]);
    assert.match(report.checks[1]!.message, /running relay .* table relay-users has \d+ user/);
    assert.match(report.checks[2]!.message, /^valid until \S+ \(36\d days\)$/);
    assert.match(report.checks[4]!.message, /greets: 220 /);

    const human = await relayctl(['doctor'], {
      dataDir,
      env: { SUBMISSION_PORT: String(stack.relay.submissionPort), SUBMISSIONS_PORT: String(stack.relay.submissionsPort) },
    });
    assert.equal(human.code, 0, human.stdout + human.stderr);
    assert.match(human.stdout, /^ok    data dir: /m);
    assert.match(human.stdout, /^all checks passed$/m);
  });

  test('doctor against AWS APIs: table, SES account, identities and the served certificate', async (t) => {
    const ses = await startSesAccountStandIn();
    t.after(() => new Promise<void>((resolve) => ses.server.close(() => resolve())));
    const args = [
      '--json', 'doctor', '--table', 'relay-users', '--region', 'eu-west-1', '--dynamodb-endpoint', stack.dynamoEndpoint,
      '--ses-endpoint', ses.url, '--identity', 'example.org', '--identity', 'pending.example', '--identity', 'missing.example',
      '--certificate-host', `127.0.0.1:${stack.relay.submissionsPort}`,
    ];
    const credentials = { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' };
    const run = await relayctl(args, { env: { ...credentials, NODE_EXTRA_CA_CERTS: stack.certPath } });
    assert.equal(run.code, 5, run.stderr);
    const report = JSON.parse(run.stdout) as DoctorJson;
    assert.equal(report.ok, false);
    assert.deepEqual(report.checks.map((check) => [check.check, check.status]), [
      ['users table', 'ok'],
      ['ses sending', 'ok'],
      ['ses sandbox', 'warn'],
      ['ses quota', 'warn'],
      ['ses identity example.org', 'ok'],
      ['ses dkim example.org', 'ok'],
      ['ses identity pending.example', 'fail'],
      ['ses dkim pending.example', 'warn'],
      ['ses identity missing.example', 'fail'],
      [`served certificate 127.0.0.1:${stack.relay.submissionsPort}`, 'ok'],
    ]);
    assert.match(run.stderr, /^relayctl: 2 checks failed\n$/);
    const byName = new Map(report.checks.map((check) => [check.check, check]));
    assert.match(byName.get('users table')!.message, /relay-users is ACTIVE with index byOwner/);
    assert.match(byName.get('ses sandbox')!.fix!, /request production access/);
    assert.equal(byName.get('ses quota')!.message, '190 of 200 messages sent in the last 24 hours, at most 1 a second');
    assert.match(byName.get('ses identity pending.example')!.fix!, /publish the DNS records/);
    assert.match(byName.get('ses identity missing.example')!.message, /not an SES identity in this region/);
    assert.deepEqual([...new Set(ses.requests)].sort(), [
      'GET /v2/email/account',
      'GET /v2/email/identities/example.org',
      'GET /v2/email/identities/missing.example',
      'GET /v2/email/identities/pending.example',
    ]);

    // Without the local CA, the self-signed certificate is what a client would refuse.
    const untrusted = await relayctl(['--json', 'doctor', '--table', 'relay-users', '--region', 'eu-west-1', '--dynamodb-endpoint', stack.dynamoEndpoint, '--ses-endpoint', ses.url, '--certificate-host', `127.0.0.1:${stack.relay.submissionsPort}`], {
      env: credentials,
    });
    const served = (JSON.parse(untrusted.stdout) as DoctorJson).checks.at(-1)!;
    assert.equal(served.status, 'fail');
    assert.match(served.message, /clients will refuse it: SELF_SIGNED_CERT|self.signed/i);

    const missingTable = await relayctl(['doctor', '--table', 'no-such-table', '--region', 'eu-west-1', '--dynamodb-endpoint', stack.dynamoEndpoint, '--ses-endpoint', ses.url], { env: credentials });
    assert.equal(missingTable.code, 5);
    assert.match(missingTable.stdout, /^fail  users table: no table no-such-table in this region -- fix: check --table and --region/m);
  });
});
