import { refuseHeloName } from './helo-name.ts';
import { ENHANCED_CODE_PREFIX } from './smtp-error.ts';
import type { SmtpConnectionInternals } from './smtp-connection-internals.ts';

export interface SessionGateOptions {
  /** Host name for replies that name the server. */
  readonly hostname: string;
  /** The SIZE limit, to recognise the library's oversize reply. */
  readonly maxMessageBytes: number;
  /** Replies of class 4 or 5 a session may earn before it is closed (Postfix smtpd_hard_error_limit). */
  readonly maxErrorsPerSession: number;
  /** Called once when a session is closed for too many errors. */
  readonly onTooManyErrors?: (connection: SmtpConnectionInternals) => void;
  /** Longest a session may last, idle or not (`421 4.4.2` after). */
  readonly maxSessionMs: number;
  /** True once the service is shutting down: no new transaction may start. */
  readonly isDraining: () => boolean;
}

/** Allowed before TLS on the submission port (RFC 3207, Postfix smtpd_tls_security_level=encrypt). */
const BEFORE_TLS = new Set(['EHLO', 'HELO', 'NOOP', 'STARTTLS', 'QUIT']);
/** Commands we recognise but do not offer: 502, not 500 (RFC 5321 4.2.4). */
const NOT_OFFERED = new Set(['EXPN', 'ETRN', 'BDAT', 'TURN', 'ATRN', 'SEND', 'SOML', 'SAML', 'XCLIENT', 'XFORWARD', 'WIZ', 'SHELL', 'KILL', 'LHLO']);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

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
 * - a session that earns too many errors is closed with `421 4.7.0`.
 */
export function installSessionGate(connection: SmtpConnectionInternals, options: SessionGateOptions): void {
  const dispatch = connection._onCommand.bind(connection);
  const write = connection.send.bind(connection);
  const libraryReplies = libraryReplyTable(options);
  let errors = 0;

  const reply = (code: number, data?: string | string[], context?: string | false): void => {
    if (typeof data === 'string' && ENHANCED_CODE_PREFIX.test(data)) {
      write(code, data, false);
    } else if (typeof data === 'string' && libraryReplies.has(`${code} ${data}`)) {
      write(code, libraryReplies.get(`${code} ${data}`), false);
    } else {
      write(code, data, context);
    }
    if (code >= 400 && code !== 421 && ++errors >= options.maxErrorsPerSession) {
      options.onTooManyErrors?.(connection);
      write(421, `4.7.0 ${options.hostname} Error: too many errors`, false);
    }
  };

  connection.send = reply;

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
        reply(501, '5.5.2 Invalid base64 data in AUTH exchange');
        return next();
      }
      return dispatch(command, callback);
    }

    const [verb = '', ...args] = line.trim().split(/\s+/);
    const name = verb.toUpperCase();
    if (options.isDraining() && !connection.session.envelope.mailFrom && name !== 'QUIT') {
      reply(421, shuttingDown(options.hostname));
      return next();
    }
    if (!connection.secure && !BEFORE_TLS.has(name) && name !== '') {
      reply(530, '5.7.0 Must issue a STARTTLS command first');
      return next();
    }
    if (name === 'EHLO' || name === 'HELO') {
      const refusal = refuseHeloName(command.toString('utf8'));
      if (refusal) {
        reply(501, refusal);
        return next();
      }
    }
    if (NOT_OFFERED.has(name)) {
      reply(502, '5.5.1 Error: command not implemented');
      return next();
    }
    if (name === 'VRFY') {
      reply(252, '2.0.0 Cannot VRFY user, but will accept message and attempt delivery');
      return next();
    }
    if (name === 'AUTH' && args.length === 2 && args[1] !== '=' && !BASE64.test(args[1] ?? '')) {
      reply(501, '5.5.2 Invalid base64 data in AUTH initial response');
      return next();
    }
    return dispatch(command, callback);
  };
}

export const shuttingDown = (hostname: string) => `4.3.2 ${hostname} Service shutting down, try again later`;

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
    ['421 Server shutting down', shuttingDown(hostname)],
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
    ['452 Error: too many recipients', '4.5.3 Error: too many recipients'],
    ['501 Error: Bad recipient address syntax', '5.1.3 Error: bad recipient address syntax'],
    ['501 Error: Bad sender address syntax', '5.1.7 Error: bad sender address syntax'],
    ['501 Error: syntax: STARTTLS', '5.5.4 Error: STARTTLS takes no argument'],
    ['250 Flushed', '2.0.0 Ok'],
    ['221 Bye', '2.0.0 Bye'],
    ['220 Ready to start TLS', '2.0.0 Ready to start TLS'],
    ['235 Authentication successful', '2.7.0 Authentication successful'],
  ]);
}
