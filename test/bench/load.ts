/**
 * The load generator: nodemailer's SMTP client over STARTTLS, as an app would
 * use it, either a fresh connection with AUTH per message or a pool of
 * connections kept open. Messages are prebuilt (`raw`), so that the client
 * spends its CPU on SMTP and TLS and not on composing MIME.
 */
import nodemailer from 'nodemailer';

export type ConnectionMode = 'fresh' | 'pooled';

export interface LoadSpec {
  readonly port: number;
  readonly ca: Buffer;
  readonly mode: ConnectionMode;
  readonly concurrency: number;
  readonly messages: number;
  readonly raw: Buffer;
  readonly login: string;
  readonly password: string;
  readonly from: string;
  readonly to: string;
}

export interface LoadResult {
  /** Per message, from sendMail to the 250 after DATA. */
  readonly latenciesMs: number[];
  /** The id in `250 ... queued as <id>`, per message, where the server gave one. */
  readonly queuedIds: Array<string | undefined>;
  readonly elapsedMs: number;
  readonly errors: string[];
}

/**
 * Sends `spec.messages` messages, `spec.concurrency` at a time. `beforeClock`
 * runs once the pool (if any) is open, just before the clock starts, so that
 * a caller's counters leave the pool's own messages out.
 */
export async function drive(spec: LoadSpec, beforeClock?: () => Promise<void>): Promise<LoadResult> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: spec.port,
    secure: false,
    requireTLS: true,
    name: 'bench.client.test',
    tls: { ca: spec.ca, servername: 'localhost' },
    auth: { user: spec.login, pass: spec.password },
    ...(spec.mode === 'pooled' ? { pool: true, maxConnections: spec.concurrency, maxMessages: Infinity } : {}),
  });
  const envelope = { from: spec.from, to: [spec.to] };
  const send = () => transport.sendMail({ envelope, raw: spec.raw });
  try {
    // A pool opens its connections (TLS, AUTH) before the clock starts: pooled rows measure the steady state.
    if (spec.mode === 'pooled') await Promise.all(Array.from({ length: spec.concurrency }, send));
    await beforeClock?.();

    const latenciesMs: number[] = [];
    const queuedIds: Array<string | undefined> = [];
    const errors: string[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: spec.concurrency }, async () => {
        while (next < spec.messages) {
          next++;
          const sent = performance.now();
          try {
            const info = await send();
            latenciesMs.push(performance.now() - sent);
            queuedIds.push(/queued as (\S+)/.exec(String(info.response))?.[1]);
          } catch (error) {
            errors.push(String((error as Error).message ?? error));
          }
        }
      }),
    );
    return { latenciesMs, queuedIds, elapsedMs: performance.now() - started, errors };
  } finally {
    transport.close();
  }
}

/**
 * A plain-text message of about `bytes`, lines of 76 characters and CRLF
 * endings (nothing the relay would refuse), with the headers a real client
 * writes.
 */
export function buildMessage(bytes: number, from: string, to: string): Buffer {
  const header =
    `From: ${from}\r\nTo: ${to}\r\nSubject: benchmark message of ${bytes} bytes\r\n` +
    `Date: ${new Date().toUTCString().replace(/GMT$/, '+0000')}\r\n` +
    `Message-ID: <bench-${bytes}@bench.client.test>\r\nMIME-Version: 1.0\r\n` +
    'Content-Type: text/plain; charset=us-ascii\r\n\r\n';
  const line = 'The quick brown fox jumps over the lazy dog, again and again, 0123456789 ab\r\n';
  const lines = Math.max(1, Math.ceil((bytes - header.length) / line.length));
  return Buffer.from(header + line.repeat(lines), 'latin1');
}
