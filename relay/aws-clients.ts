import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SESv2Client } from '@aws-sdk/client-sesv2';

/**
 * Where an AWS client talks to. In AWS only the region is set and credentials
 * come from the task role; locally the endpoint points at a stand-in and the
 * credentials are dummies the stand-in ignores.
 */
export interface AwsTarget {
  readonly region: string;
  readonly endpoint?: string;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/**
 * Drops the SDK's own log lines: without a logger it writes plain text to the
 * console (for instance on every failed send of a streamed message), and every
 * failure it could report reaches our log as the SES sender's reply.
 */
const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * SES client without SDK retries: the SES sender decides what is safe to retry.
 * Its middleware chain is built once and reused (`cacheMiddleware`, a fifth
 * of the SDK's CPU per call): so no command may carry middleware of its own.
 */
export function createSesClient(target: AwsTarget, timeoutMs: number): SESv2Client {
  return new SESv2Client({
    ...target,
    maxAttempts: 1,
    cacheMiddleware: true,
    logger: QUIET,
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 5_000), requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
}

/**
 * Lambda client for policy calls. A decision is read-only, so a retry is safe;
 * the timeout stays well inside what an SMTP client waits for a reply to AUTH
 * or MAIL (RFC 5321 4.5.3.2 gives minutes, real clients give far less).
 */
export function createLambdaClient(target: AwsTarget, timeoutMs: number): LambdaClient {
  return new LambdaClient({
    ...target,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 2_000), requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
}

/**
 * DynamoDB client for the sending-quota counters, used for every lease: its
 * middleware chain is built once and reused (`cacheMiddleware`), which the
 * counter updates allow because they add no middleware of their own. An
 * UpdateItem with ADD is retried once, as before. A counter that does not
 * answer within seconds counts as unreachable (the quota then fails closed)
 * rather than holding MAIL until the client gives up.
 */
export function createCountersClient(target: AwsTarget): DynamoDBClient {
  return new DynamoDBClient({
    ...target,
    maxAttempts: 2,
    cacheMiddleware: true,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
  });
}

/**
 * DynamoDB client for the change feed: one attempt per poll (the next poll is
 * the retry) and a timeout inside the poll interval, so that a hung read shows
 * as a failed one long before the revocation bound runs out.
 */
export function createChangeFeedClient(target: AwsTarget, timeoutMs: number): DynamoDBClient {
  return new DynamoDBClient({
    ...target,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
}
