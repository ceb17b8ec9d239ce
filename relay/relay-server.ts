import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { PolicyClient } from '../lambda/policy-contract.ts';
import { AuthPenalty, type AuthPenaltyLimits } from './auth-penalty.ts';
import { ClientAuthentication } from './client-authentication.ts';
import type { LoginChanges } from './change-feed.ts';
import { ClientConnections } from './client-connections.ts';
import type { RecipientDomainCheck } from './recipient-domain-check.ts';
import type { RelayLog } from './relay-log.ts';
import type { RelayMetrics } from './relay-metrics.ts';
import type { SesSender } from './ses-sender.ts';
import type { SendingLimits, SendingQuota } from './sending-quota.ts';
import { MessageMemoryBudget } from './message-memory-budget.ts';
import { SessionStandings } from './session-standings.ts';
import { listenFailure, type Listener } from './startup-failure.ts';
import { createSubmissionHooks, OUT_OF_MESSAGE_MEMORY } from './submission-hooks.ts';
import { SubmissionServer } from './submission-server.ts';

export interface RelaySettings {
  readonly hostname: string;
  readonly listen: string;
  /** STARTTLS port (587 in production); 0 picks a free port. */
  readonly submissionPort: number;
  /** Implicit TLS port (465 in production); 0 picks a free port. */
  readonly submissionsPort: number;
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  /** Excess RCPTs (`452 4.5.3`) a transaction may send before they count as errors. */
  readonly recipientOvershootLimit: number;
  readonly maxLineLength: number;
  readonly maxHeaderBytes: number;
  /** Message bytes all sessions of the process may hold at once (message-memory-budget.ts). */
  readonly messageMemoryBudgetBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxErrorsPerSession: number;
  readonly maxUnauthenticatedCommands: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly maxSessionMs: number;
  readonly maxAuthFailuresPerSession: number;
  /** The least time before a refused AUTH is answered (ClientAuthentication). */
  readonly authFailureFloorMs: number;
  readonly authPenalty: AuthPenaltyLimits;
  /** Sending limits for users whose settings name none. */
  readonly defaultLimits: SendingLimits;
  readonly configurationSet?: string;
  /** Whom a suspended user is told to ask. */
  readonly suspensionContact: string;
}

export interface RelayDeps {
  readonly policy: PolicyClient;
  readonly ses: SesSender;
  readonly log: RelayLog;
  /** Per-user sending counters; absent, no limits are counted. */
  readonly quota?: SendingQuota;
  /** Recipient domain lookups; absent, domains are not checked. */
  readonly recipientDomains?: RecipientDomainCheck;
  readonly metrics?: RelayMetrics;
  /**
   * The users table's change feed: open sessions of a user who changed are
   * confirmed again. Absent, only the permit cache's TTL bounds revocation.
   */
  readonly changes?: LoginChanges;
}

export interface RunningRelay {
  readonly submissionPort: number;
  readonly submissionsPort: number;
  /** Number of open SMTP sessions on both listeners. */
  connections(): number;
  /**
   * Serves a new certificate to every handshake from now on, on both listeners;
   * sessions already in TLS keep the one they negotiated.
   */
  updateCertificate(credentials: { readonly cert: string | Buffer; readonly key: string | Buffer }): void;
  /**
   * Stops accepting, lets open transactions finish for up to `graceMs`, then
   * answers whoever is left `421 4.3.2` and closes.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the two listeners of the submission service (RFC 8314): STARTTLS on
 * the submission port, implicit TLS on the submissions port. Both run the same
 * hooks; only the way TLS starts differs.
 */
export async function startRelay(settings: RelaySettings, deps: RelayDeps): Promise<RunningRelay> {
  const messageMemory = new MessageMemoryBudget(settings.messageMemoryBudgetBytes);
  const hooks = createSubmissionHooks({
    hostname: settings.hostname,
    policy: deps.policy,
    authentication: new ClientAuthentication({
      hostname: settings.hostname,
      policy: deps.policy,
      penalty: new AuthPenalty(settings.authPenalty),
      log: deps.log,
      maxFailuresPerSession: settings.maxAuthFailuresPerSession,
      failureFloorMs: settings.authFailureFloorMs,
      suspensionContact: settings.suspensionContact,
    }),
    standings: new SessionStandings({
      hostname: settings.hostname,
      policy: deps.policy,
      suspensionContact: settings.suspensionContact,
      ...(deps.changes ? { changes: deps.changes } : {}),
    }),
    connections: new ClientConnections(settings.maxConnectionsPerClient),
    ses: deps.ses,
    log: deps.log,
    maxLineLength: settings.maxLineLength,
    maxHeaderBytes: settings.maxHeaderBytes,
    maxMessageBytes: settings.maxMessageBytes,
    messageMemory,
    defaultLimits: settings.defaultLimits,
    ...(deps.quota ? { quota: deps.quota } : {}),
    ...(deps.recipientDomains ? { recipientDomains: deps.recipientDomains } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(settings.configurationSet ? { configurationSet: settings.configurationSet } : {}),
  });
  const gate = {
    hostname: settings.hostname,
    maxMessageBytes: settings.maxMessageBytes,
    maxErrorsPerSession: settings.maxErrorsPerSession,
    recipientOvershootLimit: settings.recipientOvershootLimit,
    maxSessionMs: settings.maxSessionMs,
    log: deps.log,
    // The gate logs the refusal.
    refuseData: () => (messageMemory.isSpent() ? OUT_OF_MESSAGE_MEMORY : undefined),
  };
  const common = {
    ...hooks,
    name: settings.hostname,
    key: settings.tls.key,
    cert: settings.tls.cert,
    minVersion: 'TLSv1.2' as const,
    logger: false,
    size: settings.maxMessageBytes,
    rejectOversized: true,
    maxRecipients: settings.maxRecipients,
    // RFC 5321 allows 512 octets a command line; RFC 4954 lets AUTH lines run to
    // 12,288. Ours fit AUTH PLAIN with the longest password we accept.
    maxCommandLength: 4096,
    authMethods: ['PLAIN', 'LOGIN'],
    hideENHANCEDSTATUSCODES: false,
    hideSMTPUTF8: true,
    hideDSN: true,
    hideREQUIRETLS: true,
    disableReverseLookup: true,
    socketTimeout: settings.idleTimeoutMs,
    maxAllowedUnauthenticatedCommands: settings.maxUnauthenticatedCommands,
    maxClients: settings.maxConnections,
    banner: 'submission relay',
    heloResponse: '%s',
  };
  const submission = new SubmissionServer({ ...common, secure: false }, gate);
  const submissions = new SubmissionServer({ ...common, secure: true }, gate);
  const servers = [submission, submissions];

  const listen = async (server: SubmissionServer, listener: Listener, port: number): Promise<number> => {
    server.listen(port, settings.listen);
    await once(server.server, 'listening').catch((error: unknown) => {
      throw listenFailure(listener, settings.listen, port, error);
    });
    return (server.server.address() as AddressInfo).port;
  };
  // A port that cannot be bound is a start-up failure, which the caller reports (`listen` rejects
  // with it); only once both listen is an error worth a log line.
  const duringStart = () => undefined;
  const logServerError = (err: Error) => deps.log.warn({ event: 'smtp-error', err: String(err) }, 'smtp server error');
  for (const server of servers) server.on('error', duringStart);
  let submissionPort: number;
  let submissionsPort: number;
  try {
    submissionPort = await listen(submission, 'submission', settings.submissionPort);
    submissionsPort = await listen(submissions, 'submissions', settings.submissionsPort);
  } catch (error) {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    throw error;
  }
  for (const server of servers) server.off('error', duringStart).on('error', logServerError);

  const openSessions = () => servers.reduce((sum, server) => sum + server.connections.size, 0);
  deps.metrics?.observeConnections(openSessions);
  return {
    submissionPort,
    submissionsPort,
    connections: openSessions,
    updateCertificate({ cert, key }) {
      for (const server of servers) server.updateSecureContext({ cert, key });
    },
    async close(graceMs = 0) {
      await Promise.all(servers.map((server) => server.drain(graceMs)));
      deps.metrics?.close();
    },
  };
}
