import { SmtpDialogue, plainToken, type SmtpReply } from '../support/smtp-dialogue.ts';

/** Where a transaction ended: the command whose reply the client got last. */
export type Stage = 'AUTH' | 'MAIL' | 'RCPT' | 'DATA';

/** One SMTP transaction that tried to hand one message to the relay. */
export interface Transaction {
  /** The message's marker: its Message-ID local part, also in the Subject. */
  readonly message: string;
  readonly stage: Stage;
  /** The last reply of the transaction; absent when the client got none (connection gone, or the client hung up). */
  readonly reply?: SmtpReply;
  /** The SES message id a 250 named (`queued as <id>`). */
  readonly queuedAs?: string;
}

export interface Credentials {
  readonly login: string;
  readonly password: string;
}

const DATA_REPLY_TIMEOUT_MS = 20_000;

/** The message a marker stands for; the From header is the envelope sender (owned, so the header check passes). */
export function messageFor(marker: string, from: string): string {
  return (
    `From: <${from}>\r\nTo: <someone@example.net>\r\nSubject: fault test ${marker}\r\n` +
    `Message-ID: <${marker}@fault.test>\r\n\r\nbody of ${marker}\r\n`
  );
}

/** The marker of a message as SES holds it, if it is one of ours. */
export function markerOf(raw: Buffer): string | undefined {
  return /^Message-ID: <([^@>]+)@fault\.test>\r?$/im.exec(raw.toString('latin1'))?.[1];
}

export function queuedId(reply: SmtpReply | undefined): string | undefined {
  return reply ? /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply.text)?.[1] : undefined;
}

/**
 * An SMTP client for fault scenarios: drives real sessions (STARTTLS, AUTH PLAIN)
 * and records every transaction with the reply it ended on, for the ledger.
 */
export class FaultClient {
  readonly transactions: Transaction[] = [];

  constructor(
    private readonly port: number,
    readonly credentials: Credentials,
  ) {}

  /** A new session inside TLS, after EHLO; not authenticated yet. */
  async open(): Promise<FaultSession> {
    const smtp = await SmtpDialogue.connect(this.port);
    await smtp.read();
    await smtp.command('EHLO client.test');
    const tls = await smtp.startTls();
    if (tls.code !== 220) throw new Error(`STARTTLS refused: ${tls.text}`);
    await smtp.command('EHLO client.test');
    return new FaultSession(smtp, this);
  }

  /** A new session, authenticated; throws if AUTH is refused. */
  async openAuthenticated(): Promise<FaultSession> {
    const session = await this.open();
    const reply = await session.authenticate();
    if (reply.code !== 235) throw new Error(`AUTH refused: ${reply.text}`);
    return session;
  }

  /**
   * One whole submission as a mail client makes it: connect, AUTH, MAIL, RCPT,
   * DATA, QUIT. A refusal at AUTH counts as a transaction of this message
   * ended at AUTH. Returns the recorded transaction.
   */
  async submit(marker: string, from = this.credentials.login): Promise<Transaction> {
    const session = await this.open();
    try {
      const auth = await session.authenticate();
      if (auth.code !== 235) return this.record({ message: marker, stage: 'AUTH', reply: auth });
      return await session.transaction(marker, from);
    } finally {
      await session.quit();
    }
  }

  record(transaction: Transaction): Transaction {
    this.transactions.push(transaction);
    return transaction;
  }
}

export class FaultSession {
  constructor(
    readonly smtp: SmtpDialogue,
    private readonly client: FaultClient,
  ) {}

  authenticate(): Promise<SmtpReply> {
    const { login, password } = this.client.credentials;
    return this.smtp.command(`AUTH PLAIN ${plainToken(login, password)}`, DATA_REPLY_TIMEOUT_MS);
  }

  /** MAIL, RCPT and DATA for one message; records and returns the transaction. */
  async transaction(marker: string, from = this.client.credentials.login): Promise<Transaction> {
    const mail = await this.envelope(marker, from);
    if (mail) return mail;
    return this.data(marker, from);
  }

  /** MAIL and RCPT; returns the recorded transaction if either was refused, else undefined (ready for DATA). */
  async envelope(marker: string, from = this.client.credentials.login): Promise<Transaction | undefined> {
    const mail = await this.smtp.command(`MAIL FROM:<${from}>`, DATA_REPLY_TIMEOUT_MS);
    if (mail.code !== 250) return this.client.record({ message: marker, stage: 'MAIL', reply: mail });
    const rcpt = await this.smtp.command('RCPT TO:<someone@example.net>', DATA_REPLY_TIMEOUT_MS);
    if (rcpt.code !== 250) return this.client.record({ message: marker, stage: 'RCPT', reply: rcpt });
    return undefined;
  }

  /** DATA and the message after a successful envelope; records and returns the transaction. */
  async data(marker: string, from = this.client.credentials.login): Promise<Transaction> {
    const data = await this.smtp.command('DATA');
    if (data.code !== 354) return this.client.record({ message: marker, stage: 'DATA', reply: data });
    this.smtp.write(`${messageFor(marker, from)}.\r\n`);
    return this.readDataReply(marker);
  }

  /** Reads the reply to the end of DATA; no reply (connection closed) is recorded as such. */
  async readDataReply(marker: string): Promise<Transaction> {
    const reply = await this.smtp.read(DATA_REPLY_TIMEOUT_MS).catch(() => undefined);
    const queuedAs = queuedId(reply);
    return this.client.record({ message: marker, stage: 'DATA', ...(reply ? { reply } : {}), ...(queuedAs ? { queuedAs } : {}) });
  }

  async quit(): Promise<void> {
    if (!this.smtp.closed) {
      await this.smtp.command('QUIT', 2_000).catch(() => undefined);
    }
    this.smtp.close();
  }
}
