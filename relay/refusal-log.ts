import type { RelayLog } from './relay-log.ts';

/** One refused command (or connection), as the log records it. */
export interface Refusal {
  /** The command refused (`MAIL`, `RCPT`, `DATA`, `AUTH`, ...) or `CONNECT`. */
  readonly stage: string;
  readonly session: string;
  readonly client: string;
  readonly login?: string | undefined;
  readonly code: number;
  /** The reply text after the code, enhanced status code first. */
  readonly reply: string;
  /** Short reason for metrics and log filters (`sender-not-owned`, `tls-required`, ...). */
  readonly reason: string;
  /** Private cause: the log sees it, the client never does. */
  readonly cause?: unknown;
  /** The envelope so far (`from`, `to`) and anything else the stage knows. */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/**
 * Refusals caused by a dependency that failed rather than by the client: the
 * policy function, SES, the sending counters, DNS. An operator's alarm or log
 * filter looks at `warn` and `error`; a client's mistake stays `info`.
 */
const OUTAGE_LEVELS: Readonly<Record<string, 'warn' | 'error'>> = {
  'auth-unavailable': 'error',
  'sender-unavailable': 'error',
  'session-unavailable': 'error',
  'ses-error': 'error',
  'ses-config': 'error',
  'ses-paused': 'error',
  'ses-timeout': 'warn',
  'ses-throttled': 'warn',
  'rcpt-domain-tempfail': 'warn',
  internal: 'error',
};

/**
 * Logs a refusal as Postfix does (`reject: RCPT from [192.0.2.1]: 553 5.7.1 ...;
 * from=<a> to=<b>`), one line, with the same facts as JSON fields.
 */
export function logRefusal(log: RelayLog, refusal: Refusal): void {
  const { stage, session, client, login, code, reply, reason, cause, fields = {} } = refusal;
  const envelope = postfixEnvelope(fields);
  log[OUTAGE_LEVELS[reason] ?? 'info'](
    {
      event: 'reject',
      stage,
      session,
      client,
      ...(login !== undefined ? { login } : {}),
      code,
      reply,
      reason,
      ...fields,
      ...(cause !== undefined ? { cause: String(cause) } : {}),
    },
    `reject: ${stage} from [${client}]: ${code} ${reply}${envelope ? `; ${envelope}` : ''}`,
  );
}

/** The envelope the way Postfix's reject lines show it: `from=<a> to=<b>`. */
function postfixEnvelope(fields: Readonly<Record<string, unknown>>): string {
  const to = Array.isArray(fields.to) ? fields.to : [];
  return [...(fields.from !== undefined ? [`from=<${String(fields.from)}>`] : []), ...to.map((rcpt) => `to=<${String(rcpt)}>`)].join(' ');
}
