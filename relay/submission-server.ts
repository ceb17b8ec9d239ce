import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SmtpConnectionInternals, SmtpServerInternals } from './smtp-connection-internals.ts';
import { SmtpError } from './smtp-error.ts';
import { installSessionGate, isIdle, shuttingDown, type SessionGateOptions } from './smtp-session-gate.ts';

const DRAIN_POLL_MS = 50;

/**
 * smtp-server with our session gate installed on every connection, without the
 * library's fixed 100 ms early-talker delay before the greeting (every client of
 * a submission service authenticates, so the delay is pure latency on each fresh
 * connection), and with a graceful drain. The replacement for `connect()`
 * mirrors the library's own (3.21.6), which the internals test pins.
 */
export class SubmissionServer extends SMTPServer {
  private draining = false;
  private readonly gate: SessionGateOptions;

  constructor(options: SMTPServerOptions, gate: Omit<SessionGateOptions, 'isDraining'>) {
    super(options);
    this.gate = { ...gate, isDraining: () => this.draining };
  }

  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: object | null): void {
    const server = this as unknown as SmtpServerInternals;
    const connection = attachConnection(this, socket, socketOptions);
    const gate = installSessionGate(connection, this.gate);
    const { hostname } = this.gate;
    connection._setListeners(() => {
      const { maxClients } = server.options;
      if (this.draining) {
        connection.send(421, shuttingDown(hostname).message);
      } else if (maxClients && server.connections.size > maxClients) {
        gate.refuse(new SmtpError(421, '4.7.0', `${hostname} Error: too many connections, try again later`, undefined, 'too-many-connections'));
      } else {
        connection.connectionReady();
      }
    });
  }

  /**
   * Stops accepting connections, closes idle sessions with `421 4.3.2`, lets
   * sessions inside a transaction finish it (the gate refuses their next one),
   * and after `graceMs` closes whatever is left the same way.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    this.server.close();
    const deadline = Date.now() + graceMs;
    const connections = () => [...this.connections] as unknown as SmtpConnectionInternals[];
    // Not refusals of anything a client asked: the disconnect lines tell these sessions' end.
    for (const connection of connections()) if (isIdle(connection)) connection.send(421, shuttingDown(this.gate.hostname).message);
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    for (const connection of connections()) connection.send(421, shuttingDown(this.gate.hostname).message);
    this.options.closeTimeout = 1;
    await new Promise<void>((resolve) => this.close(() => resolve()));
  }
}

/**
 * What smtp-server's own `connect()` does before `init()`: the connection,
 * registered with its server. The caller starts it (`_setListeners`, then
 * `connectionReady`) without the 100 ms wait that `init()` adds.
 */
export function attachConnection(smtpServer: SMTPServer, socket: net.Socket | tls.TLSSocket, socketOptions?: object | null): SmtpConnectionInternals {
  const server = smtpServer as unknown as SmtpServerInternals;
  const connection = new SMTPConnection(smtpServer, socket, socketOptions ?? undefined) as unknown as SmtpConnectionInternals;
  server.connections.add(connection);
  connection.on('error', (error) => server._onError(error));
  connection.on('connect', (info) => server._onClientConnect(info));
  return connection;
}
