import net from 'node:net';
import tls from 'node:tls';

/** One SMTP reply: the code, and each line's text after the code and separator. */
export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
  /** The whole reply as received, lines joined with \n. */
  readonly text: string;
}

/**
 * A raw SMTP client for tests whose point is the exact dialogue: it sends
 * exactly the bytes it is given and hands back each reply as received. Use
 * nodemailer's client for the ordinary path; this one for the edges.
 */
export class SmtpDialogue {
  private buffer = '';
  private waiters: Array<(reply: SmtpReply | undefined) => void> = [];
  private replies: SmtpReply[] = [];
  private ended = false;

  private constructor(private socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  static async connect(port: number, options: { implicitTls?: boolean; host?: string; tls?: tls.ConnectionOptions } = {}): Promise<SmtpDialogue> {
    const host = options.host ?? '127.0.0.1';
    const socket = options.implicitTls
      ? tls.connect({ host, port, rejectUnauthorized: false, ...options.tls })
      : net.connect({ host, port });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.implicitTls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new SmtpDialogue(socket);
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
    socket.on('close', () => {
      this.ended = true;
      for (const waiter of this.waiters.splice(0)) waiter(undefined);
    });
    socket.on('error', () => undefined);
  }

  private parse(): void {
    const lines: string[] = [];
    let consumed = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n', consumed);
      if (end < 0) return;
      const line = this.buffer.slice(consumed, end);
      consumed = end + 2;
      lines.push(line);
      if (line[3] !== '-') {
        this.buffer = this.buffer.slice(consumed);
        const reply = { code: Number(line.slice(0, 3)), lines: lines.map((l) => l.slice(4)), text: lines.join('\n') };
        const waiter = this.waiters.shift();
        if (waiter) waiter(reply);
        else this.replies.push(reply);
        lines.length = 0;
        consumed = 0;
      }
    }
  }

  /** The next reply; rejects if none comes within `timeoutMs` or the connection closes first. */
  async read(timeoutMs = 5_000): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return queued;
    if (this.ended) throw new Error('connection closed');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (reply: SmtpReply | undefined) => {
        clearTimeout(timer);
        if (reply) resolve(reply);
        else reject(new Error('connection closed'));
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends bytes as they are (a string as UTF-8), no CRLF added. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Sends bytes and waits while the socket's send buffer is full: for streaming more than fits in memory. */
  async writePaced(data: Buffer): Promise<void> {
    if (this.socket.write(data) || this.ended) return;
    const socket = this.socket;
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off('drain', done).off('close', done);
        resolve();
      };
      socket.on('drain', done).on('close', done);
    });
  }

  /** Sends one command line and returns its reply. */
  async command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.read(timeoutMs);
  }

  /** STARTTLS and the handshake; returns the reply to STARTTLS. */
  async startTls(options: tls.ConnectionOptions = {}): Promise<SmtpReply> {
    const reply = await this.command('STARTTLS');
    if (reply.code === 220) await this.upgrade(options);
    return reply;
  }

  /** The TLS handshake on a connection whose STARTTLS was answered 220; whatever the server sent in plaintext since is dropped. */
  async upgrade(options: tls.ConnectionOptions = {}): Promise<void> {
    const plain = this.socket as net.Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = tls.connect({ socket: plain, rejectUnauthorized: false, ...options });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.buffer = '';
    this.replies = [];
    this.attach(secure);
  }

  /** Replies received and not yet read. */
  get pendingReplies(): number {
    return this.replies.length;
  }

  get closed(): boolean {
    return this.ended;
  }

  get tlsProtocol(): string | null {
    return this.socket instanceof tls.TLSSocket ? this.socket.getProtocol() : null;
  }

  /** Resolves once the server closed the connection (or after timeoutMs, with false). */
  async waitClosed(timeoutMs = 5_000): Promise<boolean> {
    if (this.ended) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** base64 of an AUTH PLAIN token. */
export function plainToken(login: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${login}\0${password}`).toString('base64');
}
