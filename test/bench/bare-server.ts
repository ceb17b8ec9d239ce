/**
 * Benchmark child: a bare smtp-server, the upper bound for anything built on
 * the library. It listens like the relay's submission port (STARTTLS, same
 * certificate, same SIZE, TLS 1.2+), accepts any AUTH after TLS and any
 * envelope, and discards the message. Configured fairly: no reverse DNS
 * lookup, no logger.
 *
 * argv: <certPath> <keyPath> <maxMessageBytes> <stock|no-delay>
 * - `stock` keeps the library's fixed 100 ms wait before every greeting;
 * - `no-delay` removes it exactly the way the relay's SubmissionServer does
 *   (its own `connect()` calls `connectionReady()` at once).
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { SmtpServerInternals } from '../../relay/smtp-connection-internals.ts';
import { attachConnection } from '../../relay/submission-server.ts';
import { announce, serveControl } from './bench-child.ts';

const [certPath, keyPath, size, mode] = process.argv.slice(2);
if (!certPath || !keyPath || !size || (mode !== 'stock' && mode !== 'no-delay')) {
  throw new Error('usage: bare-server.ts <certPath> <keyPath> <maxMessageBytes> <stock|no-delay>');
}

class NoGreetingDelayServer extends SMTPServer {
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: object | null): void {
    const connection = attachConnection(this, socket, socketOptions);
    connection._setListeners(() => connection.connectionReady());
  }
}

const options: SMTPServerOptions = {
  secure: false,
  key: await readFile(keyPath),
  cert: await readFile(certPath),
  minVersion: 'TLSv1.2',
  logger: false,
  size: Number(size),
  authMethods: ['PLAIN', 'LOGIN'],
  disableReverseLookup: true,
  banner: 'bare smtp-server',
  onAuth(auth, _session, callback) {
    callback(null, { user: auth.username });
  },
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => callback(null, 'Ok: discarded'));
  },
};
const server = mode === 'stock' ? new SMTPServer(options) : new NoGreetingDelayServer(options);
server.on('error', () => undefined);
server.listen(0, '127.0.0.1');
await once(server.server, 'listening');

serveControl(
  { connections: () => (server as unknown as SmtpServerInternals).connections.size },
  () => new Promise<void>((resolve) => {
    (server as unknown as { options: { closeTimeout: number } }).options.closeTimeout = 1;
    server.close(() => resolve());
  }),
);

announce({ submissionPort: (server.server.address() as AddressInfo).port });
