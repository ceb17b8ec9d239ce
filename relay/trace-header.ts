import type { SMTPServerSession } from 'smtp-server';
import { isHeloName } from './helo-name.ts';

/** What a header line may hold: printable ASCII and the tab of a folded line. */
const HEADER_TEXT = /^[\x20-\x7e\t]*$/;

/**
 * The Received header a submission server adds (RFC 5321 4.4), as Postfix
 * writes it. It names no recipient: with one Bcc recipient a `for <addr>`
 * clause would show the hidden address to everyone who gets the message.
 *
 * Built from ASCII only, and proven so before it leaves: the EHLO name is the
 * one client string in it, the session gate lets only a Domain or an
 * address-literal through, and a name that is not one anyway is written
 * `unknown`. Any other character makes this throw (the message is answered
 * 451 and not sent) rather than be encoded into header bytes it never was.
 */
export function traceHeader(input: { hostname: string; session: SMTPServerSession; date: Date }): Buffer {
  const { hostname, session, date } = input;
  const helo = session.hostNameAppearsAs && isHeloName(session.hostNameAppearsAs) ? session.hostNameAppearsAs : 'unknown';
  const client = session.clientHostname || `[${session.remoteAddress}]`;
  const tls = session.tlsOptions ? ` (using ${session.tlsOptions.version ?? 'TLS'} with cipher ${session.tlsOptions.name})` : '';
  const lines = [
    `Received: from ${helo} (${client})${tls}`,
    `\tby ${hostname} (submission relay) with ${session.transmissionType} id ${session.id};`,
    `\t${rfc5322Date(date)}`,
  ];
  if (!lines.every((line) => HEADER_TEXT.test(line))) throw new Error('trace header holds a character outside printable ASCII');
  return Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'utf8');
}

function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}
