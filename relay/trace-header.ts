import type { SMTPServerSession } from 'smtp-server';

/**
 * The Received header a submission server adds (RFC 5321 4.4), as Postfix
 * writes it. It names no recipient: with one Bcc recipient a `for <addr>`
 * clause would show the hidden address to everyone who gets the message.
 */
export function traceHeader(input: { hostname: string; session: SMTPServerSession; date: Date }): Buffer {
  const { hostname, session, date } = input;
  const helo = session.hostNameAppearsAs || 'unknown';
  const client = session.clientHostname || `[${session.remoteAddress}]`;
  const tls = session.tlsOptions ? ` (using ${session.tlsOptions.version ?? 'TLS'} with cipher ${session.tlsOptions.name})` : '';
  return Buffer.from(
    `Received: from ${helo} (${client})${tls}\r\n` +
      `\tby ${hostname} (submission relay) with ${session.transmissionType} id ${session.id};\r\n` +
      `\t${rfc5322Date(date)}\r\n`,
    'latin1',
  );
}

function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
