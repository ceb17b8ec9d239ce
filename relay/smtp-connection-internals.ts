import type { SMTPServerSession } from 'smtp-server';

/**
 * The parts of smtp-server's connection object that the relay relies on
 * beyond the public hooks. smtp-server is pinned to an exact version in
 * package.json, and test/relay/smtp-connection-internals.test.ts checks each
 * of these members exists, so an upgrade that moves them fails the tests
 * instead of silently reopening a hole.
 *
 * Why we need them: stock smtp-server offers no hook before its own command
 * dispatch (we must answer 530 to everything but EHLO/HELO/NOOP/STARTTLS/QUIT
 * before TLS, and check base64 in AUTH), chooses enhanced status codes we
 * disagree with, and delays every greeting by 100 ms for early-talker detection.
 */
export interface SmtpConnectionInternals {
  readonly id: string;
  readonly secure: boolean;
  readonly remoteAddress: string;
  readonly session: SMTPServerSession;
  /** True between STARTTLS and the end of the handshake; input then is plaintext to discard. */
  readonly _upgrading: boolean;
  /** Set while a hook of ours has not answered yet. */
  readonly _handlerPending: boolean;
  /** The message stream while DATA is being received or judged. */
  readonly _dataStream: unknown;
  /** Set while an AUTH exchange waits for the client's next line. */
  _nextHandler: false | ((command: Buffer, callback: () => void) => void);
  /** Set by the first `_onClose`; later calls return at once. */
  readonly _closed: boolean;
  _onCommand(command: Buffer, callback?: () => void): void;
  /** Runs when the socket (raw, or TLS after STARTTLS) has closed. */
  _onClose(): void;
  send(code: number, data?: string | string[], context?: string | false): void;
  close(): void;
  _setListeners(callback: () => void): void;
  connectionReady(next?: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'connect', listener: (info: unknown) => void): void;
}

/** The SMTPServer members the relay's connection setup uses. */
export interface SmtpServerInternals {
  readonly connections: Set<unknown>;
  readonly options: { maxClients?: number };
  _onError(error: Error): void;
  _onClientConnect(info: unknown): void;
}
