/**
 * Benchmark child: holds many idle SMTP sessions open against one server, each
 * inside TLS after EHLO (connect, EHLO, STARTTLS, handshake, EHLO), the state a
 * connected mail client idles in. In a process of its own so that thousands of
 * sockets burden neither the load generator nor the server being measured.
 *
 * argv: <port> <caPath>
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { announce, serveControl } from './bench-child.ts';

const [port, caPath] = process.argv.slice(2);
if (!port || !caPath) throw new Error('usage: idle-clients.ts <port> <caPath>');
const ca = await readFile(caPath);

interface Session {
  readonly socket: tls.TLSSocket;
  reply(): Promise<string>;
  alive: boolean;
}

const sessions: Session[] = [];
let dropped = 0;

/** Reads whole SMTP replies (last line `NNN text`) off a socket. */
function replies(socket: net.Socket): { next(): Promise<string>; detach(): void } {
  let buffer = '';
  const ready: string[] = [];
  const waiters: Array<(reply: string) => void> = [];
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('latin1');
    for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (/^\d{3} /.test(line)) {
        const waiter = waiters.shift();
        if (waiter) waiter(line);
        else ready.push(line);
      }
    }
  };
  socket.on('data', onData);
  return {
    next: () => {
      const line = ready.shift();
      return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiters.push(resolve));
    },
    detach: () => socket.off('data', onData),
  };
}

async function expect(reply: Promise<string>, code: string, step: string): Promise<void> {
  const line = await reply;
  if (!line.startsWith(code)) throw new Error(`${step}: ${line}`);
}

async function openSession(): Promise<Session> {
  const plain = net.connect({ host: '127.0.0.1', port: Number(port) });
  plain.on('error', () => undefined);
  await once(plain, 'connect');
  const before = replies(plain);
  await expect(before.next(), '220', 'greeting');
  plain.write('EHLO idle.client.test\r\n');
  await expect(before.next(), '250', 'EHLO');
  plain.write('STARTTLS\r\n');
  await expect(before.next(), '220', 'STARTTLS');
  before.detach();
  const socket = tls.connect({ socket: plain, ca, servername: 'localhost' });
  await once(socket, 'secureConnect');
  const inside = replies(socket);
  socket.write('EHLO idle.client.test\r\n');
  await expect(inside.next(), '250', 'EHLO in TLS');
  const session: Session = { socket, reply: inside.next, alive: true };
  socket.on('close', () => {
    if (session.alive) dropped++;
    session.alive = false;
  });
  socket.on('error', () => undefined);
  return session;
}

serveControl(
  {
    /** Opens `count` more sessions, `parallel` at a time. */
    async open(payload) {
      const { count, parallel } = payload as { count: number; parallel: number };
      const started = performance.now();
      let next = 0;
      const failures: string[] = [];
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < count) {
            next++;
            try {
              sessions.push(await openSession());
            } catch (error) {
              failures.push(String((error as Error).message ?? error));
            }
          }
        }),
      );
      return { open: sessions.filter((session) => session.alive).length, failed: failures.length, firstFailure: failures[0], ms: performance.now() - started, dropped };
    },
    /** NOOP on every open session; counts the 250s. */
    async noop() {
      const answers = await Promise.all(
        sessions.map(async (session) => {
          if (!session.alive) return false;
          session.socket.write('NOOP\r\n');
          return (await session.reply()).startsWith('250');
        }),
      );
      return { ok: answers.filter(Boolean).length, of: sessions.length, dropped };
    },
    async close() {
      for (const session of sessions.splice(0)) {
        session.alive = false;
        session.socket.destroy();
      }
      return true;
    },
  },
  async () => {
    for (const session of sessions) session.socket.destroy();
  },
);

announce({});
