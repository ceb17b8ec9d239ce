import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { parseMailAddress, transportAddress } from '../lambda/mail-address.ts';
import { PolicyUnavailableError, type PolicyClient, type UserProfile } from '../lambda/policy-contract.ts';
import { readMessage, type MessageDefect } from './message-reader.ts';
import { rejectUnacceptableRecipient } from './recipient-policy.ts';
import type { RelayLog } from './relay-log.ts';
import type { SesSender } from './ses-sender.ts';
import { SmtpError } from './smtp-error.ts';
import { traceHeader } from './trace-header.ts';

export interface SubmissionHooksDeps {
  readonly hostname: string;
  readonly policy: PolicyClient;
  readonly ses: SesSender;
  readonly log: RelayLog;
  readonly maxLineLength: number;
  readonly maxHeaderBytes: number;
  /** Default SES configuration set, when the user has none of their own. */
  readonly configurationSet?: string;
}

type Hooks = Required<Pick<SMTPServerOptions, 'onConnect' | 'onSecure' | 'onAuth' | 'onMailFrom' | 'onRcptTo' | 'onData' | 'onClose'>>;

/** MAIL parameters we offer; anything else is `555 5.5.4` (RFC 5321 4.1.1.11). */
const MAIL_PARAMETERS = new Set(['SIZE', 'BODY', 'AUTH']);

const INVALID_CREDENTIALS = '5.7.8 Error: authentication failed: authentication credentials invalid';

const DEFECT_REPLIES: Record<MessageDefect, SmtpError> = {
  'bare-lf': new SmtpError(550, '5.5.2', 'Message rejected: bare <LF> received', undefined, 'bare-lf'),
  'bare-cr': new SmtpError(550, '5.5.2', 'Message rejected: bare <CR> received', undefined, 'bare-cr'),
  'long-line': new SmtpError(550, '5.5.2', 'Message rejected: a line is longer than 998 characters (RFC 5322 2.1.1)', undefined, 'long-line'),
  'header-too-long': new SmtpError(552, '5.3.4', 'Message rejected: header section too large', undefined, 'header-too-long'),
  'no-header-end': new SmtpError(550, '5.6.0', 'Message rejected: malformed header section', undefined, 'no-header-end'),
};

/**
 * smtp-server's hooks for the submission service: thin adapters that ask the
 * policy and the SES sender, and turn their verdicts into SMTP replies. The
 * protocol itself (state machine, TLS, SASL framing) is the library's, with our
 * session gate in front of it.
 */
export function createSubmissionHooks(deps: SubmissionHooksDeps): Hooks {
  const { policy, ses, log } = deps;

  /** Runs an async hook and reports its outcome the way smtp-server wants it. */
  const settle = <T>(work: Promise<T>, callback: (error: Error | null, value?: T) => void): void => {
    work.then(
      (value) => callback(null, value),
      (error: unknown) => callback(error instanceof SmtpError ? error : internalError(error)),
    );
  };

  const internalError = (error: unknown): SmtpError => {
    log.error({ event: 'internal-error', err: error }, 'unexpected error in a hook');
    return new SmtpError(451, '4.3.0', 'Local error in processing, try again later', error, 'internal');
  };

  const refuse = (session: SMTPServerSession, stage: string, error: SmtpError, fields: Record<string, unknown> = {}) => {
    log.info(
      {
        event: 'reject',
        stage,
        session: session.id,
        client: session.remoteAddress,
        login: loginOf(session),
        code: error.responseCode,
        reply: error.message,
        reason: error.reason,
        ...fields,
        ...(error.cause ? { cause: String(error.cause) } : {}),
      },
      `reject: ${stage} from [${session.remoteAddress}]: ${error.responseCode} ${error.message}`,
    );
    return error;
  };

  return {
    onConnect(session, callback) {
      log.info({ event: 'connect', session: session.id, client: session.remoteAddress, port: session.localPort }, 'connect');
      // Before TLS, AUTH is neither offered nor accepted (the session gate answers 530).
      if (!session.secure) session.disabledCommands = ['AUTH'];
      callback();
    },

    onSecure(socket, session, callback) {
      session.disabledCommands = [];
      const protocol = 'getProtocol' in socket ? socket.getProtocol() : undefined;
      log.debug({ event: 'tls', session: session.id, protocol, cipher: session.tlsOptions && session.tlsOptions.name }, 'tls');
      callback();
    },

    onAuth(auth, session, callback) {
      const work = async () => {
        // RFC 4616: an authorization identity other than the login asks to act as
        // someone else, which nobody may do here.
        if (auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid !== auth.authcid) {
          log.info({ event: 'auth-failed', session: session.id, client: session.remoteAddress, login: auth.username, reason: 'authzid' }, 'auth failed');
          return { message: INVALID_CREDENTIALS, responseCode: 535 };
        }
        try {
          const decision = await policy.decide({
            action: 'authenticate',
            login: auth.username ?? '',
            password: auth.password ?? '',
            clientAddress: session.remoteAddress,
          });
          if (decision.verdict === 'permit') {
            log.info({ event: 'auth', session: session.id, client: session.remoteAddress, login: decision.user.login, method: auth.method }, 'authenticated');
            return { user: decision.user };
          }
          log.info({ event: 'auth-failed', session: session.id, client: session.remoteAddress, login: auth.username, method: auth.method }, 'auth failed');
          return { message: INVALID_CREDENTIALS, responseCode: 535 };
        } catch (error) {
          if (error instanceof PolicyUnavailableError) {
            throw refuse(session, 'AUTH', new SmtpError(454, '4.7.0', 'Temporary authentication failure', error.cause, 'auth-unavailable'));
          }
          throw error;
        }
      };
      settle(work(), callback);
    },

    onMailFrom(address, session, callback) {
      settle(checkSender(address, session), callback);
    },

    onRcptTo(address, session, callback) {
      const refusal = rejectUnacceptableRecipient(address.address) ?? rejectParameters(address, new Set(), 'RCPT');
      callback(refusal ? refuse(session, 'RCPT', refusal, envelopeFields(session, address.address)) : null);
    },

    onData(stream, session, callback) {
      settle(relayMessage(stream, session), (error, id) => callback(error, id ? `2.0.0 Ok: queued as ${id}` : undefined));
    },

    onClose(session) {
      log.info({ event: 'disconnect', session: session.id, client: session.remoteAddress, login: loginOf(session) }, 'disconnect');
    },
  };

  async function checkSender(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    const user = session.user as UserProfile;
    const parameters = rejectParameters(address, MAIL_PARAMETERS, 'MAIL');
    if (parameters) throw refuse(session, 'MAIL', parameters, envelopeFields(session, undefined, address.address));
    if (address.address === '') return; // RFC 6409 3.2: the null sender is every user's.

    const parsed = parseMailAddress(address.address);
    if (!parsed.ok && parsed.problem === 'non-ascii-local-part') {
      throw refuse(session, 'MAIL', new SmtpError(553, '5.6.7', `<${address.address}>: Sender address rejected: non-ASCII local part requires SMTPUTF8, which is not offered`, undefined, 'sender-smtputf8'), envelopeFields(session, undefined, address.address));
    }
    const notOwned = new SmtpError(553, '5.7.1', `<${address.address}>: Sender address rejected: not owned by user ${user.login}`, undefined, 'sender-not-owned');
    if (!parsed.ok) throw refuse(session, 'MAIL', notOwned, envelopeFields(session, undefined, address.address));
    try {
      const decision = await policy.decide({ action: 'authorizeSender', login: user.login, sender: parsed.address });
      if (decision.verdict === 'reject') throw refuse(session, 'MAIL', notOwned, envelopeFields(session, undefined, address.address));
    } catch (error) {
      if (error instanceof PolicyUnavailableError) {
        throw refuse(session, 'MAIL', new SmtpError(454, '4.7.0', 'Temporary failure checking the sender, try again later', error.cause, 'sender-unavailable'), envelopeFields(session, undefined, address.address));
      }
      throw error;
    }
  }

  async function relayMessage(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const started = performance.now();
    const message = await readMessage(stream, { maxLineLength: deps.maxLineLength, maxHeaderBytes: deps.maxHeaderBytes });
    const fields = envelopeFields(session);
    // smtp-server answers an oversized message 552 itself (rejectOversized); it must not be sent.
    if (stream.sizeExceeded) throw refuse(session, 'DATA', new SmtpError(552, '5.3.4', 'Message size exceeds fixed maximum message size', undefined, 'too-big'), fields);
    if (message.defect) throw refuse(session, 'DATA', DEFECT_REPLIES[message.defect], fields);

    const user = session.user as UserProfile;
    const envelope = session.envelope;
    const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
    const recipients = envelope.rcptTo.map((rcpt) => transportAddress(rcpt.address) ?? rcpt.address);
    const trace = traceHeader({ hostname: deps.hostname, session, date: new Date() });
    const raw = Buffer.concat([trace, message.header, ...message.body]);
    const configurationSet = user.configurationSet ?? deps.configurationSet;
    try {
      const messageId = await ses.send({
        ...(mailFrom ? { from: transportAddress(mailFrom) ?? mailFrom } : {}),
        recipients,
        raw,
        ...(configurationSet ? { configurationSet } : {}),
        ...(user.messageTags ? { tags: user.messageTags } : {}),
      });
      log.info(
        { event: 'sent', ...fields, size: message.size, sesMessageId: messageId, ms: Math.round(performance.now() - started) },
        `sent: from=<${mailFrom}> nrcpt=${recipients.length} size=${message.size} ses=${messageId}`,
      );
      return messageId;
    } catch (error) {
      if (error instanceof SmtpError) throw refuse(session, 'DATA', error, { ...fields, size: message.size });
      throw error;
    }
  }
}

function rejectParameters(address: SMTPServerAddress, allowed: ReadonlySet<string>, stage: string): SmtpError | undefined {
  const unknown = Object.keys(address.args || {}).filter((key) => !allowed.has(key));
  return unknown.length
    ? new SmtpError(555, '5.5.4', `${stage} parameter ${unknown[0]} not recognized`, undefined, 'bad-parameter')
    : undefined;
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
