import path from 'node:path';
import { createPolicyHandler } from '../../lambda/policy-handler.ts';
import type { PolicyClient } from '../../lambda/policy-contract.ts';
import { UserStore } from '../../lambda/user-store.ts';
import { createChangeFeedClient, createCountersClient, createLambdaClient, createSesClient, type AwsTarget } from '../aws-clients.ts';
import { CachingPolicyClient } from '../caching-policy-client.ts';
import { ChangeFeed } from '../change-feed.ts';
import { DirectPolicyClient } from '../direct-policy-client.ts';
import { LambdaPolicyClient } from '../lambda-policy-client.ts';
import { changeFeedSettingsFrom, parseRelayEnv, recipientDomainCheckFrom, relaySettingsFrom, sendingQuotaOptionsFrom, type RelayEnv } from '../relay-config.ts';
import { createRelayLog, type RelayLog } from '../relay-log.ts';
import type { RelayMetrics } from '../relay-metrics.ts';
import { startRelay, type RunningRelay } from '../relay-server.ts';
import { SesSender } from '../ses-sender.ts';
import { SendingQuota } from '../sending-quota.ts';
import { ensurePrivateDir } from '../private-path.ts';
import { LOCAL_COUNTERS_TABLE, LOCAL_USERS_TABLE, localDynamoDbClient, startEmbeddedDynamoDb, type EmbeddedDynamoDb } from './embedded-dynamodb.ts';
import { ensureLocalTables } from './local-tables.ts';
import { startLocalLambdaEndpoint, type LocalLambdaEndpoint } from './lambda-endpoint.ts';
import { startLocalSesEndpoint, type LocalSesEndpoint } from './ses-endpoint.ts';
import { ensurePrivateLocalState } from './private-state.ts';
import { ensureSelfSignedCertificate } from './self-signed-certificate.ts';

export interface LocalStackOptions {
  /** Where users, the outbox and the certificate live. */
  readonly dataDir: string;
  /** Relay settings as environment variables (the same names the container reads). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * How the relay reaches the policy: `direct` calls the handler in this process;
   * `lambda` goes through a local endpoint that speaks Lambda's Invoke API, so
   * the production client code runs too.
   */
  readonly policyTransport?: 'direct' | 'lambda';
  /** Keep accepted messages in memory only (benchmarks measure the relay, not this disk). */
  readonly sesInMemory?: boolean;
  /** Keep DynamoDB data in memory only (tests that need no restart). */
  readonly dynamoInMemory?: boolean;
  readonly log?: RelayLog;
  /** Relay metrics (EMF); the local stack writes none unless given these. */
  readonly metrics?: RelayMetrics;
  /**
   * Wraps the policy client beneath the relay's permit cache, so the wrapper sees
   * exactly the calls that reach the policy (tests and the benchmark count them).
   */
  readonly wrapPolicy?: (policy: PolicyClient) => PolicyClient;
  /**
   * Use these stand-ins instead of starting them here (the SES one started here
   * then idles): the benchmark runs them in a process of their own, so that the
   * relay's CPU and memory figures hold the relay only.
   */
  readonly sesEndpoint?: string;
  readonly dynamoEndpoint?: string;
}

export interface LocalStack {
  readonly relay: RunningRelay;
  readonly settings: RelayEnv;
  readonly store: UserStore;
  readonly outboxDir: string;
  readonly dynamoEndpoint: string;
  /** The SES stand-in: its URL, stats and fault plan. */
  readonly ses: LocalSesEndpoint;
  /** The Lambda stand-in, when the policy is reached through Invoke. */
  readonly lambda?: LocalLambdaEndpoint;
  /** The DynamoDB stand-in (dynalite) with its fault plan and stats; absent when `dynamoEndpoint` was given. */
  readonly dynamo?: EmbeddedDynamoDb;
  /** The users table's change feed as this relay follows it. */
  readonly changes: ChangeFeed;
  readonly certPath: string;
  close(graceMs?: number): Promise<void>;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const LOCAL_DEFAULTS = {
  RELAY_LISTEN: '127.0.0.1',
  SUBMISSION_PORT: '2587',
  SUBMISSIONS_PORT: '2465',
  RELAY_HOSTNAME: 'localhost',
  // No Internet DNS to ask on a machine that may be offline; tests turn it on
  // against their own DNS server.
  RECIPIENT_DOMAIN_CHECK: 'off',
};

/**
 * The whole relay on one machine: the real front end and the real policy
 * handler, with AWS replaced by stand-ins reached through the real SDK clients
 * (dynalite for DynamoDB, a local SES v2 endpoint, optionally a local Lambda
 * Invoke endpoint). Only endpoints and credentials differ from AWS.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const settings = parseRelayEnv(options.env ?? process.env, LOCAL_DEFAULTS);
  const log = options.log ?? createRelayLog();
  const outboxDir = path.join(options.dataDir, 'outbox');
  await ensurePrivateLocalState(options.dataDir);
  await ensurePrivateDir(outboxDir, 'outbox (messages sent)');
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };

  try {
    const dynamo = options.dynamoEndpoint
      ? { endpoint: options.dynamoEndpoint, close: async () => undefined }
      : await startEmbeddedDynamoDb(options.dynamoInMemory ? undefined : options.dataDir);
    closers.push(() => dynamo.close());
    const store = new UserStore(localDynamoDbClient(dynamo.endpoint), LOCAL_USERS_TABLE);
    await ensureLocalTables(localDynamoDbClient(dynamo.endpoint));
    const handler = createPolicyHandler(store);

    const ses = await startLocalSesEndpoint({ outboxDir, keepInMemory: options.sesInMemory ?? false });
    closers.push(() => ses.close());

    let policy: PolicyClient = new DirectPolicyClient(handler);
    let lambda: LocalLambdaEndpoint | undefined;
    if (options.policyTransport === 'lambda') {
      lambda = await startLocalLambdaEndpoint({ handler, functionName: 'relay-policy' });
      closers.push(() => lambda!.close());
      policy = new LambdaPolicyClient(createLambdaClient(localTarget(lambda.url), settings.POLICY_TIMEOUT_SECONDS * 1000), 'relay-policy');
    }
    if (options.wrapPolicy) policy = options.wrapPolicy(policy);
    // The feed reads through a client of its own, with the timeout the container's has.
    const feedSettings = changeFeedSettingsFrom(settings);
    const feedStore = new UserStore(createChangeFeedClient({ ...localTarget(dynamo.endpoint), region: 'local' }, feedSettings.readTimeoutMs), LOCAL_USERS_TABLE);
    const changes = new ChangeFeed(feedStore, { ...feedSettings, log, ...(options.metrics ? { metrics: options.metrics } : {}) });
    const cache = new CachingPolicyClient(policy, { ttlMs: settings.POLICY_CACHE_SECONDS * 1000, changes });
    await changes.start();
    closers.push(() => changes.stop());

    const certificate = await ensureSelfSignedCertificate(options.dataDir, settings.RELAY_HOSTNAME);
    const sender = new SesSender(createSesClient(localTarget(options.sesEndpoint ?? ses.url), settings.SES_TIMEOUT_SECONDS * 1000), {
      throttleRetries: settings.SES_THROTTLE_RETRIES,
      throttleBackoffMs: 200,
    });
    const quota = new SendingQuota(createCountersClient({ ...localTarget(dynamo.endpoint), region: 'local' }), LOCAL_COUNTERS_TABLE, sendingQuotaOptionsFrom(settings));
    const recipientDomains = recipientDomainCheckFrom(settings);
    const relay = await startRelay(relaySettingsFrom(settings, certificate), {
      policy: cache,
      ses: sender,
      log,
      quota,
      changes,
      ...(recipientDomains ? { recipientDomains } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });

    return {
      relay,
      settings,
      store,
      outboxDir,
      dynamoEndpoint: dynamo.endpoint,
      ses,
      ...(lambda ? { lambda } : {}),
      ...('faults' in dynamo ? { dynamo } : {}),
      changes,
      certPath: certificate.certPath,
      async close(graceMs = 0) {
        await relay.close(graceMs);
        await closeAll();
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function localTarget(endpoint: string): AwsTarget {
  return { region: 'us-east-1', endpoint, credentials: LOCAL_CREDENTIALS };
}
