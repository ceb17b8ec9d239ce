import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { parseMailAddress, transportAddress } from '../lambda/mail-address.ts';
import type { PolicyClient, UserProfile } from '../lambda/policy-contract.ts';
import { loginKey, type ClientAuthentication } from './client-authentication.ts';
import type { ClientConnections } from './client-connections.ts';
import { outgoingHeaderSection } from './header-section.ts';
import type { MessageMemory, MessageMemoryBudget } from './message-memory-budget.ts';
import { readMessage, type MessageDefect } from './message-reader.ts';
import { printableEcho } from './printable-echo.ts';
import { METRIC, type RelayMetrics } from './relay-metrics.ts';
import type { RecipientDomainCheck } from './recipient-domain-check.ts';
import { rejectUnacceptableRecipient } from './recipient-policy.ts';
import { logRefusal } from './refusal-log.ts';
import type { RelayLog } from './relay-log.ts';
import type { SesSender } from './ses-sender.ts';
import { claimedSenders } from './sender-fields.ts';
import { requireOwnedSender } from './sender-ownership.ts';
import type { SessionStandings } from './session-standings.ts';
import type { QuotaAdmission, SendingLimits, SendingQuota } from './sending-quota.ts';
import { SmtpError } from './smtp-error.ts';
import { traceHeader } from './trace-header.ts';

export interface SubmissionHooksDeps {
  readonly hostname: string;
  readonly policy: PolicyClient;
  readonly authentication: ClientAuthentication;
  /** Whether each authenticated session still stands; asked at MAIL and before SES. */
  readonly standings: SessionStandings;
  readonly connections: ClientConnections;
  readonly ses: SesSender;
  readonly log: RelayLog;
  readonly maxLineLength: number;
  readonly maxHeaderBytes: number;
  /** SIZE: message bytes past it are dropped, not kept. */
  readonly maxMessageBytes: number;
  /** Message bytes all sessions of this process may hold at once. */
  readonly messageMemory: MessageMemoryBudget;
  /** Absent: no per-user sending limits are counted. */
  readonly quota?: SendingQuota;
  /** Limits for users whose own settings name none. */
  readonly defaultLimits: SendingLimits;
  /** Absent: recipient domains are not looked up. */
  readonly recipientDomains?: RecipientDomainCheck;
  /** Default SES configuration set, when the user has none of their own. */
  readonly configurationSet?: string;
  readonly metrics?: RelayMetrics;
}

type Hooks = Required<Pick<SMTPServerOptions, 'onConnect' | 'onSecure' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'onClose'>>;

/** MAIL parameters we offer; anything else is `555 5.5.4` (RFC 5321 4.1.1.11). */
const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'AUTH']);
const NO_PARAMETERS = new Set<string>();

const DEFECT_REPLIES: Record<MessageDefect, SmtpError> = {
  'bare-lf': new SmtpError(550, '5.5.2', 'Message rejected: bare <LF> received', undefined, 'bare-lf'),
  'bare-cr': new SmtpError(550, '5.5.2', 'Message rejected: bare <CR> received', undefined, 'bare-cr'),
  nul: new SmtpError(550, '5.6.0', 'Message rejected: NUL character in message', undefined, 'nul'),
  'long-line': new SmtpError(550, '5.5.2', 'Message rejected: a line is longer than 998 characters (RFC 5322 2.1.1)', undefined, 'long-line'),
  'header-too-long': new SmtpError(552, '5.3.4', 'Message rejected: header section too large', undefined, 'header-too-long'),
};

/** The process's message memory is spent (message-memory-budget.ts): at a new DATA, or while one is read. */
export const OUT_OF_MESSAGE_MEMORY = new SmtpError(451, '4.3.1', 'Insufficient system storage, try again later', undefined, 'message-memory');

/** What the relay keeps about one session beyond smtp-server's own session object. */
interface SessionState {
  authFailures: number;
}

/**
 * smtp-server's hooks for the submission service: thin adapters that ask the
 * policy, the limits and the SES sender, and turn their verdicts into SMTP
 * replies. The protocol itself (state machine, TLS, SASL framing) is the
 * library's, with our session gate in front of it.
 */
export function createSubmissionHooks(deps: SubmissionHooksDeps): Hooks {
  const { policy, ses, log } = deps;
  const sessions = new Map<string, SessionState>();

  /** Runs an async hook and reports its outcome the way smtp-server wants it. */
  const settle = <T>(session: SMTPServerSession, work: Promise<T>, callback: (error: Error | null, value?: T) => void): void => {
    work.then(
      (value) => callback(null, value),
      (error: unknown) => callback(error instanceof SmtpError ? error : internalError(session, error)),
    );
  };

  const internalError = (session: SMTPServerSession, error: unknown): SmtpError => {
    log.error({ event: 'internal-error', session: session.id, client: session.remoteAddress, err: error }, 'unexpected error in a hook');
    return new SmtpError(451, '4.3.0', 'Local error in processing, try again later', error, 'internal');
  };

  const refuse = (session: SMTPServerSession, stage: string, error: SmtpError, fields: Record<string, unknown> = {}) => {
    deps.metrics?.rejected(error.reason);
    if (error.reason.startsWith('ses-')) deps.metrics?.count(METRIC.sesErrors);
    logRefusal(log, {
      stage,
      session: session.id,
      client: session.remoteAddress,
      login: loginOf(session),
      code: error.responseCode,
      reply: error.message,
      reason: error.reason,
      ...(error.cause !== undefined ? { cause: error.cause } : {}),
      fields,
    });
    return error;
  };

  /** Runs a stage's check and logs its refusal, if any, before handing it on. */
  const judged = async <T>(session: SMTPServerSession, stage: string, fields: Record<string, unknown>, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw error instanceof SmtpError ? refuse(session, stage, error, fields) : error;
    }
  };

  /** The user's limits over the defaults; a throttle (reputation, operator) cuts messages per minute further. */
  const limitsOf = (user: UserProfile): SendingLimits => {
    const limits = { ...deps.defaultLimits, ...user.limits };
    if (!user.throttle) return limits;
    const own = limits.messagesPerMinute || Number.POSITIVE_INFINITY;
    return { ...limits, messagesPerMinute: Math.max(1, Math.min(own, user.throttle.messagesPerMinute)) };
  };

  /** The session's user as it stands now (see SessionStandings); the session carries the fresh profile on. */
  const standingUser = async (session: SMTPServerSession): Promise<{ user: UserProfile; confirmed: boolean }> => {
    const before = session.user as UserProfile;
    const user = await deps.standings.require(session.id, before, session.remoteAddress);
    session.user = user;
    return { user, confirmed: user !== before };
  };

  /** Counts against a sending limit; when the counters could not be reached, says so in the log. */
  const admit = async (session: SMTPServerSession, count: (quota: SendingQuota) => Promise<QuotaAdmission>) => {
    if (!deps.quota) return;
    const admission = await count(deps.quota);
    if (admission.counted === 'shared') return;
    log.error(
      { event: 'quota-unavailable', session: session.id, login: loginOf(session), counted: admission.counted, cause: String(admission.cause) },
      admission.counted === 'locally' ? 'sending quota unavailable, counted against this task\'s fallback share' : 'sending quota unavailable, mail let through uncounted (QUOTA_UNAVAILABLE=fail-open)',
    );
  };

  return {
    onConnect(session, callback) {
      const fields = { session: session.id, client: session.remoteAddress, port: session.localPort };
      const refusal =
        deps.authentication.refuseConnection(session.remoteAddress) ??
        (deps.connections.admit(session.remoteAddress)
          ? undefined
          : new SmtpError(421, '4.7.0', `${deps.hostname} Error: too many connections from [${session.remoteAddress}]`, undefined, 'connections-per-client'));
      if (refusal) {
        callback(refuse(session, 'CONNECT', refusal));
        return;
      }
      sessions.set(session.id, { authFailures: 0 });
      log.info({ event: 'connect', ...fields }, `connect from [${session.remoteAddress}]`);
      // Before TLS, AUTH is neither offered nor accepted (the session gate answers 530).
      if (!session.secure) session.disabledCommands = ['AUTH'];
      callback();
    },

    onSecure(socket, session, callback) {
      session.disabledCommands = [];
      const protocol = 'getProtocol' in socket ? socket.getProtocol() : undefined;
      const cipher = session.tlsOptions ? session.tlsOptions.name : undefined;
      log.debug({ event: 'tls', session: session.id, protocol, cipher }, `tls: ${protocol ?? 'unknown protocol'} with cipher ${cipher ?? 'unknown'}`);
      callback();
    },

    onAuth(auth, session, callback) {
      const state = sessions.get(session.id) ?? { authFailures: 0 };
      const work = async () => {
        const response = await deps.authentication.authenticate(auth, {
          sessionId: session.id,
          clientAddress: session.remoteAddress,
          failuresSoFar: state.authFailures,
        });
        if (!response.user) {
          state.authFailures++;
          deps.metrics?.count(METRIC.authFailures);
        } else {
          deps.standings.track(session.id, (response.user as UserProfile).login);
        }
        return response;
      };
      settle(session, judged(session, 'AUTH', { login: loginKey(auth.username ?? '') }, work), callback);
    },

    onMailFrom(address, session, callback) {
      settle(session, checkSender(address, session), callback);
    },

    onRcptTo(address, session, callback) {
      const fields = envelopeFields(session, address.address);
      const work = async () => {
        const refusal = rejectUnacceptableRecipient(address.address) ?? rejectParameters(address, NO_PARAMETERS, 'RCPT');
        if (refusal) throw refusal;
        const domain = transportAddress(address.address)?.split('@')[1];
        const unknownDomain = domain ? await deps.recipientDomains?.check(address.address, domain) : undefined;
        if (unknownDomain) throw unknownDomain;
      };
      settle(session, judged(session, 'RCPT', fields, work), callback);
    },

    onData(stream, session, callback) {
      settle(session, relayMessage(stream, session), (error, id) => callback(error, id ? `2.0.0 Ok: queued as ${id}` : undefined));
    },

    // The disconnect line, with the session's command summary, is the session gate's.
    onClose(session) {
      deps.standings.release(session.id);
      if (sessions.delete(session.id)) deps.connections.release(session.remoteAddress);
    },
  };

  async function checkSender(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    await judged(session, 'MAIL', envelopeFields(session, undefined, address.address), async () => {
      const parameters = rejectParameters(address, MAIL_PARAMETERS, 'MAIL');
      if (parameters) throw parameters;
      const { user } = await standingUser(session);
      // RFC 6409 3.2: the null sender is every user's.
      if (address.address !== '') await requireOwnedSender(policy, user.login, address.address, 'envelope');
      await admit(session, (quota) => quota.admitMessage(user.login, limitsOf(user)));
    });
  }

  /**
   * The header section as it will leave (outgoingHeaderSection: trace header on
   * top, client X-SES-* fields dropped), judged as it leaves: every sender it
   * names must be the user's. Each distinct address costs at most one policy
   * call, and sender-fields.ts caps how many there are.
   */
  async function outgoingHeader(trace: Buffer, header: Buffer, session: SMTPServerSession, login: string): Promise<Buffer> {
    const outgoing = outgoingHeaderSection(trace, header);
    if (!outgoing.ok) throw headerRefusal(outgoing.problem);
    const claims = claimedSenders(outgoing.fields);
    if (!claims.ok) throw headerRefusal(claims.problem);
    const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const owned = mailFrom ? [parseMailAddress(mailFrom)].flatMap((parsed) => (parsed.ok ? [parsed.address] : [])) : [];
    for (const claim of claims.claims) {
      owned.push(await requireOwnedSender(policy, login, claim.address, claim.field, owned));
    }
    return outgoing.section;
  }

  async function relayMessage(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const memory = deps.messageMemory.open();
    try {
      return await judgeAndSend(stream, session, memory);
    } finally {
      memory.release();
    }
  }

  async function judgeAndSend(stream: SMTPServerDataStream, session: SMTPServerSession, memory: MessageMemory): Promise<string> {
    const started = performance.now();
    const limits = { maxLineLength: deps.maxLineLength, maxHeaderBytes: deps.maxHeaderBytes, maxMessageBytes: deps.maxMessageBytes, memory };
    const message = await readMessage(stream, limits).catch(
      (error: unknown) => {
        // smtp-server destroys the stream with ECONNECTION when the client hangs up inside DATA.
        if ((error as { code?: unknown }).code !== 'ECONNECTION') throw error;
        throw refuse(session, 'DATA', new SmtpError(451, '4.3.0', 'Message incomplete: the connection closed during DATA', undefined, 'client-disconnected'), envelopeFields(session));
      },
    );
    const fields = envelopeFields(session);
    // smtp-server answers an oversized message 552 itself (rejectOversized); it must not be sent.
    if (stream.sizeExceeded || message.discarded === 'size') {
      throw refuse(session, 'DATA', new SmtpError(552, '5.3.4', 'Message size exceeds fixed maximum message size', undefined, 'too-big'), fields);
    }
    if (message.discarded === 'memory') throw refuse(session, 'DATA', OUT_OF_MESSAGE_MEMORY, { ...fields, size: message.size });
    if (message.defect) throw refuse(session, 'DATA', DEFECT_REPLIES[message.defect], fields);

    const envelope = session.envelope;
    const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
    const recipients = envelope.rcptTo.map((rcpt) => transportAddress(rcpt.address) ?? rcpt.address);
    return judged(session, 'DATA', { ...fields, size: message.size }, async () => {
      // The user may have changed while the message streamed in: a session
      // that had to be confirmed proves its envelope sender again too.
      const { user, confirmed } = await standingUser(session);
      if (confirmed && mailFrom) await requireOwnedSender(policy, user.login, mailFrom, 'envelope');
      const configurationSet = user.configurationSet ?? deps.configurationSet;
      const trace = traceHeader({ hostname: deps.hostname, session, date: new Date() });
      const header = await outgoingHeader(trace, message.header, session, user.login);
      await admit(session, (quota) => quota.admitRecipients(user.login, recipients.length, limitsOf(user)));
      const sesStarted = performance.now();
      const messageId = await ses.send({
        ...(mailFrom ? { from: transportAddress(mailFrom) ?? mailFrom } : {}),
        recipients,
        // The pieces as they are: the SES sender encodes them without one more copy of the message.
        raw: [header, ...message.body],
        ...(configurationSet ? { configurationSet } : {}),
        ...(user.messageTags ? { tags: user.messageTags } : {}),
      });
      const sesMs = performance.now() - sesStarted;
      deps.metrics?.count(METRIC.accepted);
      deps.metrics?.sesLatency(sesMs);
      log.info(
        { event: 'sent', session: session.id, client: session.remoteAddress, login: user.login, ...fields, size: message.size, sesMessageId: messageId, ms: Math.round(performance.now() - started), sesMs: Math.round(sesMs) },
        `sent: from=<${mailFrom}> nrcpt=${recipients.length} size=${message.size} ses=${messageId}`,
      );
      return messageId;
    });
  }
}

function headerRefusal(problem: string): SmtpError {
  return new SmtpError(550, '5.6.0', `Message rejected: ${problem}`, undefined, 'bad-header');
}

/**
 * Parameters we do not offer are `555 5.5.4` (RFC 5321 4.1.1.11); a value
 * outside its grammar is `501 5.5.4`. smtp-server itself checks SIZE and BODY
 * and refuses control characters in any value; AUTH (RFC 4954 5) must be `<>`
 * or an address, in ASCII.
 */
function rejectParameters(address: SMTPServerAddress, allowed: ReadonlySet<string>, stage: string): SmtpError | undefined {
  const args: Record<string, unknown> = address.args || {};
  const unknown = Object.keys(args).filter((key) => !allowed.has(key));
  if (unknown.length) return new SmtpError(555, '5.5.4', `${stage} parameter ${printableEcho(unknown[0]!)} not recognized`, undefined, 'bad-parameter');
  const auth = args.AUTH;
  if (auth !== undefined && auth !== '<>' && !(typeof auth === 'string' && /^[\x21-\x7e]+$/.test(auth) && parseMailAddress(auth).ok)) {
    return new SmtpError(501, '5.5.4', `Bad ${stage} parameter value`, undefined, 'bad-parameter');
  }
  return undefined;
}

function loginOf(session: SMTPServerSession): string | undefined {
  return (session.user as UserProfile | undefined)?.login;
}

function envelopeFields(session: SMTPServerSession, rcpt?: string, mailFrom?: string): Record<string, unknown> {
  const from = mailFrom ?? (session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined);
  return {
    ...(from !== undefined ? { from } : {}),
    to: rcpt !== undefined ? [rcpt] : session.envelope.rcptTo.map((r) => r.address),
  };
}
