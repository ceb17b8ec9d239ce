import type { UserProfile } from '../lambda/policy-contract.ts';
import { CommandTally } from './command-tally.ts';
import { refuseHeloName } from './helo-name.ts';
import { logRefusal } from './refusal-log.ts';
import type { RelayLog } from './relay-log.ts';
import { ENHANCED_CODE_PREFIX, SmtpError } from './smtp-error.ts';
import type { SmtpConnectionInternals } from './smtp-connection-internals.ts';

export interface SessionGateOptions {
  /** Host name for replies that name the server. */
  readonly hostname: string;
  /** The SIZE limit, to recognise the library's oversize reply. */
  readonly maxMessageBytes: number;
  /** Replies of class 4 or 5 a session may earn before it is closed (Postfix smtpd_hard_error_limit). */
  readonly maxErrorsPerSession: number;
  /**
   * `452 4.5.3 too many recipients` replies a transaction may earn before each
   * further one counts as an error (Postfix smtpd_recipient_overshoot_limit):
   * a client with more recipients than fit one message is not misbehaving, it
   * sends the rest in another transaction.
   */
  readonly recipientOvershootLimit: number;
  /** Where refusals the hooks never see, and each session's disconnect line, are logged. */
  readonly log: RelayLog;
  /** Longest a session may last, idle or not (`421 4.4.2` after). */
  readonly maxSessionMs: number;
  /** A refusal for a DATA that would start a message now (the process's message memory is spent), if any. */
  readonly refuseData?: (connection: SmtpConnectionInternals) => SmtpError | undefined;
  /** True once the service is shutting down: no new transaction may start. */
  readonly isDraining: () => boolean;
}

/** Allowed before TLS on the submission port (RFC 3207, Postfix smtpd_tls_security_level=encrypt). */
const BEFORE_TLS = new Set(['EHLO', 'HELO', 'NOOP', 'STARTTLS', 'QUIT']);
/** Commands we recognise but do not offer: 502, not 500 (RFC 5321 4.2.4). */
const NOT_OFFERED = new Set(['EXPN', 'ETRN', 'BDAT', 'TURN', 'ATRN', 'SEND', 'SOML', 'SAML', 'XCLIENT', 'XFORWARD', 'WIZ', 'SHELL', 'KILL', 'LHLO']);
/** The library's text for a RCPT past `maxRecipients`, before LIBRARY_REPLIES maps it. */
const TOO_MANY_RECIPIENTS = 'Error: too many recipients';
/** Verbs named in log lines; the rest are `unknown command`. */
const KNOWN_VERBS = new Set([...BEFORE_TLS, 'AUTH', 'MAIL', 'RCPT', 'DATA', 'RSET', 'VRFY', 'HELP', ...NOT_OFFERED]);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** What the server holding a connection may ask of its gate. */
export interface SessionGate {
  /** Answers `error` unasked (a full server), logged as a refusal; a 421 closes the connection. */
  refuse(error: SmtpError): void;
}

/**
 * Puts our rules in front of smtp-server's own command dispatch and reply
 * writer, for one connection:
 *
 * - before TLS only EHLO, HELO, NOOP, STARTTLS and QUIT run; everything else is
 *   `530 5.7.0 Must issue a STARTTLS command first` (the library answers 538,
 *   or 530 with an authentication text);
 * - an EHLO or HELO name that is not an RFC 5321 Domain or address-literal is
 *   `501 5.5.2` (the library keeps any non-control Unicode, which then reaches
 *   the Received header);
 * - AUTH data that is not base64 is `501 5.5.2` (the library decodes garbage);
 * - recognised commands we do not offer are `502 5.5.1`, VRFY is `252 2.0.0`
 *   whatever the address (no user enumeration);
 * - every reply carries the enhanced status code we choose: our own errors
 *   bring theirs, and the library's fixed texts are mapped in LIBRARY_REPLIES;
 * - a session that earns too many errors is closed with `421 4.7.0`, one that
 *   lasts longer than `maxSessionMs` with `421 4.4.2`; recipients past the
 *   per-message limit are not errors until the transaction has had
 *   `recipientOvershootLimit` of them;
 * - a DATA that `refuseData` refuses is answered before the message starts;
 * - every command and whether it succeeded is counted (CommandTally), and every
 *   refusal the hooks did not make and log themselves (ours here, the
 *   library's) is logged, so that a client refused before TLS or AUTH leaves
 *   more than its connect and disconnect lines.
 */
export function installSessionGate(connection: SmtpConnectionInternals, options: SessionGateOptions): SessionGate {
  const dispatch = connection._onCommand.bind(connection);
  const write = connection.send.bind(connection);
  const libraryReplies = libraryReplyTable(options);
  const tally = new CommandTally();
  /** The command whose final reply is still to come (3xx replies are not final). */
  let pending: string | undefined;
  let errors = 0;
  // Counted per transaction, as Postfix does (rcpt_reset): a new envelope starts at 0.
  let overshoot = { envelope: connection.session.envelope, count: 0 };
  const isForgivenOvershoot = (code: number, data: unknown): boolean => {
    if (code !== 452 || data !== TOO_MANY_RECIPIENTS) return false;
    const envelope = connection.session.envelope;
    if (overshoot.envelope !== envelope) overshoot = { envelope, count: 0 };
    return overshoot.count++ < options.recipientOvershootLimit;
  };

  const loginOf = () => (connection.session.user as UserProfile | undefined)?.login;
  const logged = (stage: string, code: number, text: string, reason: string) =>
    logRefusal(options.log, { stage, session: connection.id, client: connection.remoteAddress, login: loginOf(), code, reply: text, reason });

  /**
   * Writes a reply and accounts for it. A text that starts with an enhanced
   * code is ours: a hook's SmtpError (the hook logged it) or the gate's own
   * (`ownReason` set, logged here). A library text is mapped to ours and, when
   * it refuses, logged here with the reason `protocol`.
   */
  const reply = (code: number, data?: string | string[], context?: string | false, ownReason?: string): void => {
    const stage = pending ?? 'CONNECT';
    const ours = typeof data === 'string' && ENHANCED_CODE_PREFIX.test(data);
    const mapped = typeof data === 'string' && !ours ? libraryReplies.get(`${code} ${data}`) : undefined;
    const text = mapped ?? data;
    if (code >= 400 && typeof text === 'string' && (ownReason || !ours)) logged(stage, code, text, ownReason ?? 'protocol');
    if (ours || mapped !== undefined) write(code, text, false);
    else write(code, data, context);
    if (pending && (code < 300 || code >= 400)) {
      tally.record(pending, code < 400);
      pending = undefined;
    }
    if (code >= 400 && code !== 421 && !isForgivenOvershoot(code, data) && ++errors >= options.maxErrorsPerSession) {
      const tooMany = `4.7.0 ${options.hostname} Error: too many errors`;
      logged(stage, 421, tooMany, 'too-many-errors');
      write(421, tooMany, false);
    }
  };
  const refuse = (error: SmtpError): void => reply(error.responseCode, error.message, false, error.reason);

  connection.send = reply;

  const sessionLimit = setTimeout(
    () => refuse(new SmtpError(421, '4.4.2', `${options.hostname} Error: session time limit exceeded`, undefined, 'session-time-limit')),
    options.maxSessionMs,
  );
  sessionLimit.unref();

  // Not the socket's close event: at STARTTLS the library strips the raw socket's listeners.
  const onClose = connection._onClose.bind(connection);
  connection._onClose = (): void => {
    const first = !connection._closed;
    clearTimeout(sessionLimit);
    onClose();
    // After the library's close handling and the hooks' last words (a DATA cut
    // short is refused as the socket closes): the disconnect line comes last.
    if (first) setImmediate(logDisconnect);
  };
  const logDisconnect = (): void => {
    if (pending) tally.record(pending, false);
    pending = undefined;
    options.log.info(
      { event: 'disconnect', session: connection.id, client: connection.remoteAddress, login: loginOf(), commands: tally.toFields() },
      `disconnect from [${connection.remoteAddress}] ${tally.summary()}`,
    );
  };

  connection._onCommand = (command: Buffer, callback?: () => void): void => {
    const next = (): void => {
      if (callback) setImmediate(callback);
    };
    // Plaintext that arrived behind STARTTLS: the library discards it unanswered.
    if (connection._upgrading) return dispatch(command, callback);

    const line = command.toString('binary');
    if (connection._nextHandler) {
      const data = line.trim();
      if (data !== '*' && !BASE64.test(data)) {
        connection._nextHandler = false;
        refuse(new SmtpError(501, '5.5.2', 'Invalid base64 data in AUTH exchange', undefined, 'bad-base64'));
        return next();
      }
      return dispatch(command, callback);
    }

    const [verb = '', ...args] = line.trim().split(/\s+/);
    const name = verb.toUpperCase();
    // Only a verb we know is named in the log; any other is `unknown`, never the client's bytes.
    pending = KNOWN_VERBS.has(name) ? name : 'unknown command';
    if (options.isDraining() && !connection.session.envelope.mailFrom && name !== 'QUIT') {
      refuse(shuttingDown(options.hostname));
      return next();
    }
    if (!connection.secure && !BEFORE_TLS.has(name) && name !== '') {
      refuse(new SmtpError(530, '5.7.0', 'Must issue a STARTTLS command first', undefined, 'tls-required'));
      return next();
    }
    if (name === 'EHLO' || name === 'HELO') {
      const refusal = refuseHeloName(command.toString('utf8'));
      if (refusal) {
        reply(501, refusal, false, 'bad-helo');
        return next();
      }
    }
    if (NOT_OFFERED.has(name)) {
      refuse(new SmtpError(502, '5.5.1', 'Error: command not implemented', undefined, 'not-offered'));
      return next();
    }
    if (name === 'VRFY') {
      reply(252, '2.0.0 Cannot VRFY user, but will accept message and attempt delivery');
      return next();
    }
    const dataRefusal = name === 'DATA' && connection.session.envelope.rcptTo.length > 0 ? options.refuseData?.(connection) : undefined;
    if (dataRefusal) {
      refuse(dataRefusal);
      return next();
    }
    if (name === 'AUTH' && args.length === 2 && args[1] !== '=' && !BASE64.test(args[1] ?? '')) {
      refuse(new SmtpError(501, '5.5.2', 'Invalid base64 data in AUTH initial response', undefined, 'bad-base64'));
      return next();
    }
    return dispatch(command, callback);
  };

  return {
    refuse(error) {
      pending = undefined;
      refuse(error);
    },
  };
}

export const shuttingDown = (hostname: string) => new SmtpError(421, '4.3.2', `${hostname} Service shutting down, try again later`, undefined, 'shutting-down');

/** True when the session is between transactions and waits for nothing of ours. */
export function isIdle(connection: SmtpConnectionInternals): boolean {
  return !connection.session.envelope?.mailFrom && !connection._handlerPending && !connection._dataStream;
}

/**
 * Replies the library writes with a fixed text, mapped to the enhanced code and
 * text a mail admin expects (Postfix wording where there is one).
 */
function libraryReplyTable(options: SessionGateOptions): Map<string, string> {
  const { hostname, maxMessageBytes } = options;
  return new Map([
    ['421 Timeout - closing connection', `4.4.2 ${hostname} Error: timeout exceeded`],
    ['421 Error: too many unauthenticated commands', `4.7.0 ${hostname} Error: too many errors`],
    ['421 Error: too many unrecognized commands', `4.7.0 ${hostname} Error: too many errors`],
    ['421 Server shutting down', shuttingDown(hostname).message],
    ['501 Error: syntax: EHLO hostname', '5.5.4 Syntax: EHLO hostname'],
    ['501 Error: Syntax: HELO hostname', '5.5.4 Syntax: HELO hostname'],
    ['421 Error: Command line too long', `4.7.0 ${hostname} Error: command line too long`],
    [
      `552 Error: message exceeds fixed maximum message size ${maxMessageBytes}`,
      '5.3.4 Message size exceeds fixed maximum message size',
    ],
    ['530 Error: authentication Required', '5.7.0 Authentication required'],
    ['501 Authentication aborted', '5.7.0 Authentication aborted'],
    ['501 Error: invalid userdata', '5.5.2 Malformed AUTH data'],
    ['501 Error: missing username', '5.5.2 Malformed AUTH data'],
    ['503 Error: No identity changes permitted', '5.5.1 Error: already authenticated'],
    ['503 Error: nested MAIL command', '5.5.1 Error: nested MAIL command'],
    ['503 Error: need MAIL command', '5.5.1 Error: need MAIL command'],
    ['503 Error: need RCPT command', '5.5.1 Error: need RCPT command'],
    ['500 Error: command not recognized', '5.5.2 Error: command not recognized'],
    ['504 Error: Unrecognized authentication type', '5.5.4 Error: unsupported authentication mechanism'],
    [`452 ${TOO_MANY_RECIPIENTS}`, '4.5.3 Error: too many recipients'],
    ['501 Error: Bad recipient address syntax', '5.1.3 Error: bad recipient address syntax'],
    ['501 Error: Bad sender address syntax', '5.1.7 Error: bad sender address syntax'],
    ['501 Error: syntax: STARTTLS', '5.5.4 Error: STARTTLS takes no argument'],
    ['250 Flushed', '2.0.0 Ok'],
    ['221 Bye', '2.0.0 Bye'],
    ['220 Ready to start TLS', '2.0.0 Ready to start TLS'],
    ['235 Authentication successful', '2.7.0 Authentication successful'],
  ]);
}
