import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { relayctl } from './relayctl-process.ts';

interface DoctorJson {
  readonly checks: ReadonlyArray<{ readonly check: string; readonly status: string; readonly message: string; readonly fix?: string }>;
}

/**
 * Lambda's GetAccountSettings (restJson1, GET /2016-08-19/account-settings) as
 * a new account answers it, and every other AWS call refused at once, so that
 * doctor's table and SES checks fail fast instead of reaching for AWS.
 */
async function startAccountStandIn(limit: { ConcurrentExecutions: number; UnreservedConcurrentExecutions: number }): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/2016-08-19/account-settings') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ AccountLimit: { ...limit, TotalCodeSize: 80530636800, CodeSizeZipped: 52428800, CodeSizeUnzipped: 262144000 }, AccountUsage: { TotalCodeSize: 0, FunctionCount: 0 } }));
      return;
    }
    response.writeHead(400, { 'content-type': 'application/json', 'x-amzn-ErrorType': 'ValidationException' });
    response.end(JSON.stringify({ message: 'not here' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function doctor(standIn: string, reserved: string): Promise<{ code: number | null; check: DoctorJson['checks'][number] | undefined; stderr: string }> {
  const run = await relayctl(
    ['--json', 'doctor', '--table', 'relay-users', '--region', 'eu-west-1', '--dynamodb-endpoint', standIn, '--ses-endpoint', standIn, '--lambda-endpoint', standIn, '--policy-concurrency', reserved],
    { env: { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } },
  );
  const report = run.stdout ? (JSON.parse(run.stdout) as DoctorJson) : { checks: [] };
  return { code: run.code, check: report.checks.find((check) => check.check === 'lambda concurrency'), stderr: run.stderr };
}

describe('relayctl doctor --policy-concurrency: the Lambda account quota leaves room for the reservation', () => {
  let newAccount: { url: string; server: Server };
  let raised: { url: string; server: Server };
  before(async () => {
    newAccount = await startAccountStandIn({ ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 });
    raised = await startAccountStandIn({ ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 });
  });
  after(async () => {
    for (const standIn of [newAccount, raised]) await new Promise<void>((resolve) => standIn.server.close(() => resolve()));
  });

  test('a new account (quota 10) cannot reserve 96: fail, with the quota to ask for', async () => {
    const { code, check } = await doctor(newAccount.url, '96');
    assert.equal(code, 5);
    assert.equal(check?.status, 'fail');
    assert.equal(check?.message, 'account quota 10 concurrent executions, 10 unreserved; the policy function reserves 96, which would leave fewer than 100 unreserved: Lambda refuses it and the deploy fails');
    assert.match(check!.fix!, /L-B99A9384; at least 196\)/);
  });

  test('an account at 1000 can: ok', async () => {
    const { check } = await doctor(raised.url, '96');
    assert.equal(check?.status, 'ok');
    assert.equal(check?.message, 'account quota 1000 concurrent executions, 1000 unreserved; the policy function reserves 96');
  });

  test('a value that is not a whole number is refused before anything is asked', async () => {
    const { code, stderr } = await doctor(raised.url, 'auto');
    assert.equal(code, 1);
    assert.match(stderr, /--policy-concurrency must be a positive whole number, not "auto"/);
  });
});
