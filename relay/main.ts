/**
 * Submission relay, container entry: an RFC 6409 message submission service
 * that hands every accepted message to Amazon SES.
 *
 * SECURITY: listens to the Internet on 587 (STARTTLS, required before AUTH and
 * MAIL) and 465 (implicit TLS). Trusts nothing a client says until the policy
 * function has permitted its credentials and each envelope sender. Talks to the
 * policy function (Lambda Invoke), SES (SendEmail), the counters table and the
 * users table's change feed (read only) with the task role, and to nothing
 * else. Never logs passwords, AUTH data or key material.
 *
 * STANDARDS: RFC 5321 (SMTP), RFC 6409 (submission), RFC 8314 (implicit TLS),
 * RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 4616 (PLAIN), RFC 3463 and 2034
 * (enhanced status codes), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 2920
 * (PIPELINING), RFC 5322 (message format).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { UserStore } from '../lambda/user-store.ts';
import { createChangeFeedClient, createCountersClient, createLambdaClient, createSesClient } from './aws-clients.ts';
import { CachingPolicyClient } from './caching-policy-client.ts';
import { ChangeFeed } from './change-feed.ts';
import { LambdaPolicyClient } from './lambda-policy-client.ts';
import { changeFeedSettingsFrom, parseRelayEnv, parseSettings, recipientDomainCheckFrom, relaySettingsFrom, sendingQuotaOptionsFrom } from './relay-config.ts';
import { createRelayLog } from './relay-log.ts';
import { RelayMetrics } from './relay-metrics.ts';
import { startRelay } from './relay-server.ts';
import { SesSender } from './ses-sender.ts';
import { SendingQuota } from './sending-quota.ts';
import { exitWithStartupFailure, listenFailure } from './startup-failure.ts';
import { loadTlsCredentials } from './tls-credentials.ts';

/** Settings only the container reads (the CDK stack sets them; README, "Settings"). */
const awsEnvSchema = z.object({
  POLICY_FUNCTION_NAME: z.string().min(1),
  AWS_REGION: z.string().min(1),
  SES_REGION: z.string().min(1).optional(),
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  COUNTERS_TABLE: z.string().min(1).optional(),
  /** The users table, for its change feed only (the task may read nothing else of it). */
  USERS_TABLE: z.string().min(1).optional(),
  METRICS_NAMESPACE: z.string().min(1).default('SubmissionRelay'),
  STAGE: z.string().min(1).default('dev'),
});

async function main(): Promise<void> {
  const log = createRelayLog();
  const awsEnv = parseSettings(awsEnvSchema, process.env);

  // Unprivileged ports: the container runs as a non-root user, which cannot bind
  // below 1024 on Fargate; the load balancer listens on 587 and 465.
  const settings = parseRelayEnv(process.env, {
    RELAY_LISTEN: '0.0.0.0',
    SUBMISSION_PORT: '2587',
    SUBMISSIONS_PORT: '2465',
  });
  const tls = await loadTlsCredentials(process.env);
  const metrics = new RelayMetrics({
    namespace: awsEnv.METRICS_NAMESPACE,
    stage: awsEnv.STAGE,
    write: (line) => process.stdout.write(`${line}\n`),
  });
  const feedSettings = changeFeedSettingsFrom(settings);
  const changes = awsEnv.USERS_TABLE
    ? new ChangeFeed(new UserStore(createChangeFeedClient({ region: awsEnv.AWS_REGION }, feedSettings.readTimeoutMs), awsEnv.USERS_TABLE), { ...feedSettings, log, metrics })
    : undefined;
  if (!changes) log.warn({ event: 'config' }, 'USERS_TABLE is not set: revocations wait for POLICY_CACHE_SECONDS and never reach open sessions');
  // Permits are remembered until the change feed says the user changed (or for
  // POLICY_CACHE_SECONDS at most): a user who sends again costs no Invoke and no
  // password hash (see caching-policy-client.ts).
  const policy = new CachingPolicyClient(
    new LambdaPolicyClient(createLambdaClient({ region: awsEnv.AWS_REGION }, settings.POLICY_TIMEOUT_SECONDS * 1000), awsEnv.POLICY_FUNCTION_NAME),
    { ttlMs: settings.POLICY_CACHE_SECONDS * 1000, ...(changes ? { changes } : {}) },
  );
  await changes?.start();
  const ses = new SesSender(createSesClient({ region: awsEnv.SES_REGION ?? awsEnv.AWS_REGION }, settings.SES_TIMEOUT_SECONDS * 1000), {
    throttleRetries: settings.SES_THROTTLE_RETRIES,
    throttleBackoffMs: 200,
  });
  const recipientDomains = recipientDomainCheckFrom(settings);
  if (!awsEnv.COUNTERS_TABLE) log.warn({ event: 'config' }, 'COUNTERS_TABLE is not set: per-user sending limits are not counted');
  const relay = await startRelay(relaySettingsFrom(settings, tls), {
    metrics,
    policy,
    ses,
    log,
    ...(awsEnv.COUNTERS_TABLE
      ? { quota: new SendingQuota(createCountersClient({ region: awsEnv.AWS_REGION }), awsEnv.COUNTERS_TABLE, sendingQuotaOptionsFrom(settings)) }
      : {}),
    ...(recipientDomains ? { recipientDomains } : {}),
    ...(changes ? { changes } : {}),
  });

  // The load balancer's health check: plain HTTP on its own port, so that it is
  // never an SMTP session in the logs. 503 while draining takes the task out of
  // the target group before its sessions are closed.
  let draining = false;
  const health = createServer((request, response) => {
    response.writeHead(request.url === '/healthz' && !draining ? 200 : 503).end();
  });
  health.listen(awsEnv.HEALTH_PORT, settings.RELAY_LISTEN);
  await once(health, 'listening').catch(async (error: unknown) => {
    await relay.close();
    await changes?.stop();
    throw listenFailure('health', settings.RELAY_LISTEN, awsEnv.HEALTH_PORT, error);
  });

  log.info(
    {
      event: 'start',
      submissionPort: relay.submissionPort,
      submissionsPort: relay.submissionsPort,
      healthPort: (health.address() as AddressInfo).port,
    },
    `relay started: submission port ${relay.submissionPort}, submissions port ${relay.submissionsPort}, health port ${(health.address() as AddressInfo).port}`,
  );

  process.once('SIGTERM', () => {
    draining = true;
    log.info({ event: 'drain', graceSeconds: settings.SHUTDOWN_GRACE_SECONDS, connections: relay.connections() }, 'SIGTERM: draining');
    relay
      .close(settings.SHUTDOWN_GRACE_SECONDS * 1000)
      .then(() => changes?.stop())
      .then(() => {
        log.info({ event: 'stop' }, 'relay stopped');
        health.close();
        log.flush();
      })
      .catch((error: unknown) => {
        log.error({ event: 'stop-failed', err: String(error) }, 'relay failed to stop cleanly');
        process.exitCode = 1;
      });
  });
}

// A start-up failure is one line per problem on stderr with its fix, never a stack trace.
await main().catch((error: unknown) => exitWithStartupFailure('relay', error));
