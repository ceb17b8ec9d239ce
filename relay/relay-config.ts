import { z } from 'zod';
import { defaultMessageMemoryBudgetBytes } from './message-memory-budget.ts';
import { RecipientDomainCheck } from './recipient-domain-check.ts';
import type { SendingQuotaOptions } from './sending-quota.ts';
import { settingProblems, StartupError } from './startup-failure.ts';

/**
 * SES v2 takes a raw message of up to 40 MB. The SIZE we advertise leaves room
 * for the Received header the relay adds on top of what the client sent.
 */
export const SES_V2_MAX_MESSAGE_BYTES = 40_000_000;
export const TRACE_HEADER_ROOM = 1_000;

const port = z.coerce.number().int().min(0).max(65535);
const positive = z.coerce.number().int().positive();

/**
 * Settings common to the container and the local stack, from the environment.
 * Every limit has a default a small team can live with; the README's settings
 * table lists them all.
 */
export const relayEnvSchema = z.object({
  RELAY_HOSTNAME: z.string().min(1).default('localhost'),
  RELAY_LISTEN: z.string().min(1),
  SUBMISSION_PORT: port,
  SUBMISSIONS_PORT: port,
  MAX_MESSAGE_BYTES: positive.max(SES_V2_MAX_MESSAGE_BYTES - TRACE_HEADER_ROOM).default(SES_V2_MAX_MESSAGE_BYTES - TRACE_HEADER_ROOM),
  /** SES takes at most 50 destinations a message. */
  MAX_RECIPIENTS: positive.max(50).default(50),
  /**
   * RCPTs past MAX_RECIPIENTS (`452 4.5.3`) a transaction may send before each
   * further one counts toward MAX_ERRORS_PER_SESSION (Postfix's
   * smtpd_recipient_overshoot_limit, with its default).
   */
  RECIPIENT_OVERSHOOT_LIMIT: z.coerce.number().int().min(0).default(1_000),
  MAX_HEADER_BYTES: positive.default(256 * 1024),
  /**
   * Message bytes all sessions of one process may hold at once; past it a new
   * DATA is `451 4.3.1`. Unset: half the container's memory (cgroup limit, or
   * the machine's memory).
   */
  MESSAGE_MEMORY_BUDGET_BYTES: positive.optional(),
  IDLE_TIMEOUT_SECONDS: positive.default(300),
  MAX_ERRORS_PER_SESSION: positive.default(10),
  MAX_UNAUTHENTICATED_COMMANDS: positive.default(10),
  MAX_CONNECTIONS: positive.default(10_000),
  MAX_CONNECTIONS_PER_CLIENT: positive.default(20),
  MAX_SESSION_SECONDS: positive.default(1_800),
  MAX_AUTH_FAILURES_PER_SESSION: positive.default(3),
  AUTH_PENALTY_WINDOW_SECONDS: positive.default(900),
  AUTH_PENALTY_BASE_MS: z.coerce.number().int().min(0).default(500),
  AUTH_PENALTY_MAX_MS: z.coerce.number().int().min(0).default(15_000),
  /**
   * No refused AUTH is answered sooner than this after it arrived, so the time
   * a wrong password takes does not tell unknown users from users with one
   * hash scheme or another. Far above what a decision costs (about 60 ms on
   * an idle machine, 100 ms in a 1 GB Lambda, up to 300 ms on a 2-core machine
   * loaded twenty deep); Dovecot's auth_failure_delay is 2 s. The penalty's
   * delay comes on top.
   */
  AUTH_FAILURE_FLOOR_MS: z.coerce.number().int().min(0).max(5_000).default(500),
  AUTH_REFUSE_ADDRESS_AFTER: positive.default(20),
  AUTH_REFUSE_LOGIN_AFTER: positive.default(50),
  /** 0 means no limit. */
  DEFAULT_MESSAGES_PER_MINUTE: z.coerce.number().int().min(0).default(120),
  DEFAULT_RECIPIENTS_PER_DAY: z.coerce.number().int().min(0).default(10_000),
  /** When the counters table cannot be reached: `451 4.7.1` past a per-task fallback share, or let mail through. */
  QUOTA_UNAVAILABLE: z.enum(['fail-closed', 'fail-open']).default('fail-closed'),
  /**
   * fail-closed: while the counters cannot be reached each task allows a user
   * their limit divided by this many tasks (the service's largest task count
   * keeps all tasks together within the limit).
   */
  QUOTA_FALLBACK_TASKS: positive.default(6),
  /** Largest lease of messages or recipients a task takes from a user's counter at once. */
  QUOTA_LEASE_MAX: positive.default(100),
  RECIPIENT_DOMAIN_CHECK: z.enum(['on', 'off']).default('on'),
  RECIPIENT_DNS_SERVERS: z.string().optional(),
  RECIPIENT_DNS_TIMEOUT_MS: positive.default(3_000),
  SES_CONFIGURATION_SET: z.string().min(1).optional(),
  SES_THROTTLE_RETRIES: z.coerce.number().int().min(0).max(5).default(2),
  SES_TIMEOUT_SECONDS: positive.default(30),
  /** Per Invoke attempt; two attempts at most. Well inside a client's patience for AUTH. */
  POLICY_TIMEOUT_SECONDS: z.coerce.number().positive().default(5),
  /**
   * Policy Invokes in flight at once per process; more wait for a free
   * connection. Bounds what the tasks together can ask of the policy function,
   * whose reserved concurrency is sized from it.
   */
  POLICY_MAX_IN_FLIGHT: positive.max(1_000).default(16),
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().min(0).default(100),
  /**
   * How long the relay remembers a permit of the policy (a successful AUTH, an
   * allowed sender); a changed password, a disabled user or a revoked grant
   * takes effect within this bound. 0 asks the policy every time.
   */
  POLICY_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(60),
  /**
   * How often the certificate source (secret or files) is read again, so that
   * a renewed certificate reaches running relays without a restart.
   */
  CERT_RELOAD_SECONDS: positive.max(86_400).default(300),
  /** Time between two reads of the users table's change feed (revocation). */
  REVOCATION_POLL_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
  /**
   * Longest a revocation may take to reach every session of this task; a feed
   * unread for longer turns the task fail-closed (no cached permits, every
   * session confirmed with the policy) until it is read again.
   */
  REVOCATION_BOUND_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  /** Whom a suspended user is told to ask; default postmaster@RELAY_HOSTNAME. Printable ASCII. */
  SUSPENSION_CONTACT: z.string().regex(/^[\x21-\x7e][\x20-\x7e]{0,199}$/, 'printable ASCII, up to 200 characters').optional(),
});

export type RelayEnv = z.infer<typeof relayEnvSchema>;

/** Parses the environment; a StartupError has a `SETTING: problem` line for each bad variable. */
export function parseRelayEnv(env: NodeJS.ProcessEnv, defaults: Partial<Record<keyof RelayEnv, string>>): RelayEnv {
  const settings = parseSettings(relayEnvSchema, env, defaults);
  // Two polls must fit in the bound, or one failed read would already break it.
  if (settings.REVOCATION_POLL_MS * 2 > settings.REVOCATION_BOUND_SECONDS * 1000) {
    throw new StartupError(['REVOCATION_POLL_MS: at most half of REVOCATION_BOUND_SECONDS']);
  }
  return settings;
}

/**
 * Reads `schema`'s settings from the environment over `defaults`; an empty
 * variable counts as unset. Every problem is reported at once, one line each.
 */
export function parseSettings<Schema extends z.ZodType>(schema: Schema, env: NodeJS.ProcessEnv, defaults: Readonly<Record<string, string>> = {}): z.infer<Schema> {
  const merged = { ...defaults, ...Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')) };
  // The input is kept only to tell an unset variable from a bad one; no value is ever printed.
  const parsed = schema.safeParse(merged, { reportInput: true });
  if (!parsed.success) throw new StartupError(settingProblems(parsed.error));
  return parsed.data;
}

export function relaySettingsFrom(env: RelayEnv, tls: { cert: string | Buffer; key: string | Buffer }) {
  return {
    hostname: env.RELAY_HOSTNAME,
    listen: env.RELAY_LISTEN,
    submissionPort: env.SUBMISSION_PORT,
    submissionsPort: env.SUBMISSIONS_PORT,
    tls,
    maxMessageBytes: env.MAX_MESSAGE_BYTES,
    maxRecipients: env.MAX_RECIPIENTS,
    recipientOvershootLimit: env.RECIPIENT_OVERSHOOT_LIMIT,
    maxLineLength: 998,
    maxHeaderBytes: env.MAX_HEADER_BYTES,
    messageMemoryBudgetBytes: env.MESSAGE_MEMORY_BUDGET_BYTES ?? defaultMessageMemoryBudgetBytes(),
    idleTimeoutMs: env.IDLE_TIMEOUT_SECONDS * 1000,
    maxErrorsPerSession: env.MAX_ERRORS_PER_SESSION,
    maxUnauthenticatedCommands: env.MAX_UNAUTHENTICATED_COMMANDS,
    maxConnections: env.MAX_CONNECTIONS,
    maxConnectionsPerClient: env.MAX_CONNECTIONS_PER_CLIENT,
    maxSessionMs: env.MAX_SESSION_SECONDS * 1000,
    maxAuthFailuresPerSession: env.MAX_AUTH_FAILURES_PER_SESSION,
    authFailureFloorMs: env.AUTH_FAILURE_FLOOR_MS,
    authPenalty: {
      windowMs: env.AUTH_PENALTY_WINDOW_SECONDS * 1000,
      baseDelayMs: env.AUTH_PENALTY_BASE_MS,
      maxDelayMs: env.AUTH_PENALTY_MAX_MS,
      refuseAddressAfter: env.AUTH_REFUSE_ADDRESS_AFTER,
      refuseLoginAfter: env.AUTH_REFUSE_LOGIN_AFTER,
      maxEntries: 100_000,
    },
    defaultLimits: {
      ...(env.DEFAULT_MESSAGES_PER_MINUTE ? { messagesPerMinute: env.DEFAULT_MESSAGES_PER_MINUTE } : {}),
      ...(env.DEFAULT_RECIPIENTS_PER_DAY ? { recipientsPerDay: env.DEFAULT_RECIPIENTS_PER_DAY } : {}),
    },
    ...(env.SES_CONFIGURATION_SET ? { configurationSet: env.SES_CONFIGURATION_SET } : {}),
    suspensionContact: env.SUSPENSION_CONTACT ?? `postmaster@${env.RELAY_HOSTNAME}`,
  };
}

export function sendingQuotaOptionsFrom(env: RelayEnv): SendingQuotaOptions {
  return { whenUnavailable: env.QUOTA_UNAVAILABLE, fallbackTasks: env.QUOTA_FALLBACK_TASKS, leaseCap: env.QUOTA_LEASE_MAX };
}

/** How the change feed is followed (relay/change-feed.ts). */
export function changeFeedSettingsFrom(env: RelayEnv) {
  const boundMs = env.REVOCATION_BOUND_SECONDS * 1000;
  return { pollMs: env.REVOCATION_POLL_MS, boundMs, readTimeoutMs: Math.min(2_000, boundMs / 2) };
}

/** The recipient-domain lookup the settings ask for, if any. */
export function recipientDomainCheckFrom(env: RelayEnv): RecipientDomainCheck | undefined {
  if (env.RECIPIENT_DOMAIN_CHECK === 'off') return undefined;
  const servers = env.RECIPIENT_DNS_SERVERS?.split(',').map((server) => server.trim()).filter(Boolean);
  return new RecipientDomainCheck({ timeoutMs: env.RECIPIENT_DNS_TIMEOUT_MS, ...(servers?.length ? { servers } : {}) });
}
