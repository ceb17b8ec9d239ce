import net from 'node:net';
import tls from 'node:tls';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { OWNER_INDEX } from '../../lambda/user-store.ts';
import { certificateExpiryCheck, describeFailure, type CheckResult } from './doctor-check.ts';

export interface AwsDeployment {
  readonly table: string;
  readonly region?: string;
  /** AWS shared-config profile for both clients. */
  readonly profile?: string;
  readonly dynamodbEndpoint?: string;
  readonly sesRegion?: string;
  readonly sesEndpoint?: string;
  /** SES identities (domains or addresses) the relay sends as. */
  readonly identities: readonly string[];
  /** `host` or `host:port` (default port 465) whose served certificate to check. */
  readonly certificateHost?: string;
  /**
   * Reserved concurrency the stage gives the policy function: check, before the
   * first deploy, that the account's Lambda concurrency quota leaves room for it.
   */
  readonly policyReservedConcurrency?: number;
  readonly lambdaEndpoint?: string;
}

/** Lambda refuses a reservation that leaves the account fewer unreserved executions than this. */
const LAMBDA_MIN_UNRESERVED = 100;

/** Share of the 24-hour quota past which sending is close to being refused. */
const QUOTA_WARNING_SHARE = 0.8;
const REQUEST_TIMEOUT_MS = 10_000;
const TLS_TIMEOUT_MS = 5_000;

/**
 * What the relay needs from AWS, read with the operator's credentials: the
 * users table and its owner index, the SES account (sending enabled, out of
 * the sandbox, quota left), each sending identity (verified, DKIM), and the
 * certificate the relay serves on port 465. Read-only calls only.
 */
export async function checkAwsDeployment(deployment: AwsDeployment): Promise<CheckResult[]> {
  const clientOptions = {
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: REQUEST_TIMEOUT_MS },
    ...(deployment.profile ? { profile: deployment.profile } : {}),
  };
  const dynamo = new DynamoDBClient({
    ...clientOptions,
    ...(deployment.region ? { region: deployment.region } : {}),
    ...(deployment.dynamodbEndpoint ? { endpoint: deployment.dynamodbEndpoint } : {}),
  });
  const ses = new SESv2Client({
    ...clientOptions,
    ...((deployment.sesRegion ?? deployment.region) ? { region: deployment.sesRegion ?? deployment.region } : {}),
    ...(deployment.sesEndpoint ? { endpoint: deployment.sesEndpoint } : {}),
  });
  try {
    const results = [await checkTable(dynamo, deployment.table), ...(await checkSesAccount(ses))];
    for (const identity of deployment.identities) results.push(...(await checkIdentity(ses, identity)));
    if (deployment.certificateHost) results.push(await checkServedCertificate(deployment.certificateHost));
    if (deployment.policyReservedConcurrency !== undefined) {
      const lambda = new LambdaClient({
        ...clientOptions,
        ...(deployment.region ? { region: deployment.region } : {}),
        ...(deployment.lambdaEndpoint ? { endpoint: deployment.lambdaEndpoint } : {}),
      });
      try {
        results.push(await checkLambdaConcurrency(lambda, deployment.policyReservedConcurrency));
      } finally {
        lambda.destroy();
      }
    }
    return results;
  } finally {
    dynamo.destroy();
    ses.destroy();
  }
}

async function checkTable(dynamo: DynamoDBClient, table: string): Promise<CheckResult> {
  const check = 'users table';
  try {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: table }));
    if (!Table?.GlobalSecondaryIndexes?.some((index) => index.IndexName === OWNER_INDEX)) {
      return { check, status: 'fail', message: `${table} has no index ${OWNER_INDEX}: it is not the relay's users table`, fix: 'give the table the data stack made (see its outputs)' };
    }
    if (Table.TableStatus !== 'ACTIVE') {
      return { check, status: 'warn', message: `${table} is ${Table.TableStatus}`, fix: 'wait until the table is ACTIVE' };
    }
    return { check, status: 'ok', message: `${table} is ACTIVE with index ${OWNER_INDEX} (about ${Table.ItemCount ?? 0} items)` };
  } catch (error) {
    const missing = error instanceof Error && error.name === 'ResourceNotFoundException';
    return {
      check,
      status: 'fail',
      message: missing ? `no table ${table} in this region` : `cannot describe ${table}: ${describeFailure(error)}`,
      fix: missing ? 'check --table and --region, or deploy the data stack (npx cdk deploy)' : 'check the AWS credentials (AWS_PROFILE) and that they may call dynamodb:DescribeTable',
    };
  }
}

async function checkSesAccount(ses: SESv2Client): Promise<CheckResult[]> {
  let account;
  try {
    account = await ses.send(new GetAccountCommand({}));
  } catch (error) {
    return [{ check: 'ses account', status: 'fail', message: `cannot read the SES account: ${describeFailure(error)}`, fix: 'check --ses-region and that the credentials may call ses:GetAccount' }];
  }
  const results: CheckResult[] = [];
  const enforcement = account.EnforcementStatus ?? 'unknown';
  if (account.SendingEnabled === false) {
    results.push({ check: 'ses sending', status: 'fail', message: `sending is disabled for the account (enforcement status ${enforcement})`, fix: 'see the SES account dashboard; AWS tells there why sending is paused' });
  } else if (enforcement === 'SHUTDOWN') {
    results.push({ check: 'ses sending', status: 'fail', message: 'the account is shut down for sending', fix: 'contact AWS Support about the SES account' });
  } else if (enforcement === 'PROBATION') {
    results.push({ check: 'ses sending', status: 'warn', message: 'the account is on probation (bounces or complaints too high)', fix: 'lower bounces and complaints (SES reputation dashboard) before AWS pauses sending' });
  } else {
    results.push({ check: 'ses sending', status: 'ok', message: `sending is enabled (enforcement status ${enforcement})` });
  }
  results.push(
    account.ProductionAccessEnabled
      ? { check: 'ses sandbox', status: 'ok', message: 'production access: mail goes to any recipient' }
      : {
          check: 'ses sandbox',
          status: 'warn',
          message: 'the account is in the SES sandbox: mail only to verified addresses, 200 a day',
          fix: 'request production access (SES console, account dashboard)',
        },
  );
  const quota = account.SendQuota;
  if (quota?.Max24HourSend !== undefined) {
    const sent = quota.SentLast24Hours ?? 0;
    const text = `${sent} of ${quota.Max24HourSend} messages sent in the last 24 hours, at most ${quota.MaxSendRate ?? '?'} a second`;
    results.push(
      quota.Max24HourSend > 0 && sent >= QUOTA_WARNING_SHARE * quota.Max24HourSend
        ? { check: 'ses quota', status: 'warn', message: text, fix: 'ask AWS for a higher sending quota before SES refuses mail' }
        : { check: 'ses quota', status: 'ok', message: text },
    );
  }
  return results;
}

async function checkIdentity(ses: SESv2Client, identity: string): Promise<CheckResult[]> {
  const check = `ses identity ${identity}`;
  let found;
  try {
    found = await ses.send(new GetEmailIdentityCommand({ EmailIdentity: identity }));
  } catch (error) {
    const missing = error instanceof Error && error.name === 'NotFoundException';
    return [
      {
        check,
        status: 'fail',
        message: missing ? `${identity} is not an SES identity in this region` : `cannot read ${identity}: ${describeFailure(error)}`,
        fix: missing ? 'create it (the stack creates its sending identities) and publish its DNS records' : 'check the credentials may call ses:GetEmailIdentity',
      },
    ];
  }
  const verified: CheckResult = found.VerifiedForSendingStatus
    ? { check, status: 'ok', message: `verified for sending (${found.IdentityType ?? 'identity'})` }
    : {
        check,
        status: 'fail',
        message: `not verified for sending (verification ${found.VerificationStatus ?? 'unknown'})`,
        fix: 'publish the DNS records SES lists for it (SES console, identity, "Publish DNS records")',
      };
  const dkim = found.DkimAttributes;
  const dkimCheck = `ses dkim ${identity}`;
  let signing: CheckResult;
  if (!dkim || dkim.SigningEnabled === false) {
    signing = { check: dkimCheck, status: 'warn', message: 'DKIM signing is off: receivers trust the mail less', fix: 'enable Easy DKIM for the identity and publish its CNAME records' };
  } else if (dkim.Status === 'SUCCESS') {
    signing = { check: dkimCheck, status: 'ok', message: 'DKIM signing is on and its DNS records are found' };
  } else if (dkim.Status === 'PENDING') {
    signing = { check: dkimCheck, status: 'warn', message: 'DKIM is pending: SES has not found its DNS records yet', fix: 'publish the DKIM CNAME records; SES checks again for up to 72 hours' };
  } else {
    signing = { check: dkimCheck, status: 'fail', message: `DKIM status ${dkim.Status ?? 'unknown'}`, fix: 'publish the DKIM CNAME records SES lists for the identity (they may have been removed)' };
  }
  return [verified, signing];
}

/**
 * Whether the account can reserve `reserved` executions for the policy
 * function: Lambda keeps 100 unreserved, and a new account's quota may be as
 * low as 10, in which case the deploy of the service stack fails.
 */
async function checkLambdaConcurrency(lambda: LambdaClient, reserved: number): Promise<CheckResult> {
  const check = 'lambda concurrency';
  let settings;
  try {
    settings = await lambda.send(new GetAccountSettingsCommand({}));
  } catch (error) {
    return { check, status: 'fail', message: `cannot read the Lambda account settings: ${describeFailure(error)}`, fix: 'check --region and that the credentials may call lambda:GetAccountSettings' };
  }
  const quota = settings.AccountLimit?.ConcurrentExecutions ?? 0;
  const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions ?? quota;
  const text = `account quota ${quota} concurrent executions, ${unreserved} unreserved; the policy function reserves ${reserved}`;
  if (unreserved - reserved >= LAMBDA_MIN_UNRESERVED) return { check, status: 'ok', message: text };
  return {
    check,
    status: 'fail',
    message: `${text}, which would leave fewer than ${LAMBDA_MIN_UNRESERVED} unreserved: Lambda refuses it and the deploy fails`,
    fix: `ask for a higher "Concurrent executions" quota (Service Quotas, AWS Lambda, L-B99A9384; at least ${reserved + LAMBDA_MIN_UNRESERVED + (quota - unreserved)}), or set a smaller policyReservedConcurrency for the stage`,
  };
}

/** Connects like a mail client to the relay's implicit-TLS port and judges the certificate it serves. */
async function checkServedCertificate(target: string): Promise<CheckResult> {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(target);
  const host = match ? (match[1] ?? match[2]!) : target;
  const port = match?.[3] ? Number(match[3]) : 465;
  const check = `served certificate ${host}:${port}`;
  try {
    const { certificate, authorizationError } = await new Promise<{ certificate: tls.PeerCertificate; authorizationError?: string }>((resolve, reject) => {
      const socket = tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), rejectUnauthorized: false });
      socket.setTimeout(TLS_TIMEOUT_MS, () => socket.destroy(new Error(`no TLS handshake within ${TLS_TIMEOUT_MS / 1000} s`)));
      socket.once('secureConnect', () => {
        const error = socket.authorized ? undefined : String(socket.authorizationError);
        resolve({ certificate: socket.getPeerCertificate(), ...(error ? { authorizationError: error } : {}) });
        socket.destroy();
      });
      socket.once('error', reject);
    });
    if (authorizationError) {
      return { check, status: 'fail', message: `clients will refuse it: ${authorizationError}`, fix: 'serve a certificate for this host name from a public CA, with its chain (the certificate secret, or TLS_CERT_FILE)' };
    }
    return certificateExpiryCheck(check, certificate.valid_to, 'renew it: the ACM export function writes the renewal into the secret (docs/deploying.md, step 12), or put a new one in yourself; running tasks read it within CERT_RELOAD_SECONDS');
  } catch (error) {
    return { check, status: 'fail', message: `no TLS connection: ${describeFailure(error)}`, fix: 'check the host name, the load balancer listener on the port, and the security group' };
  }
}
