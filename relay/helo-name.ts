import net from 'node:net';
import { printableEcho } from './printable-echo.ts';

/**
 * RFC 5321 4.1.2 `Domain`: dot-separated labels of letters, digits and inner
 * hyphens, at most 63 characters a label and 255 in all. The underscore is
 * let in as Postfix's valid_hostname() lets it in: Windows machine names carry
 * it, and it is plain ASCII, so it can neither break a header nor look like
 * another name.
 */
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
const MAX_DOMAIN_LENGTH = 255;

/**
 * True when the name is an RFC 5321 `Domain` or `address-literal`: `[IPv4]` or
 * `[IPv6:...]`. A General-address-literal (`[tag:...]`) is refused: no tag
 * besides IPv6 is registered.
 */
export function isHeloName(name: string): boolean {
  if (name.startsWith('[') && name.endsWith(']')) {
    const literal = name.slice(1, -1);
    if (/^IPv6:/i.test(literal)) return net.isIPv6(literal.slice(5));
    return /^[0-9.]+$/.test(literal) && net.isIPv4(literal);
  }
  return name.length <= MAX_DOMAIN_LENGTH && name.split('.').every((label) => LABEL.test(label));
}

/**
 * The reply to an EHLO or HELO line whose name is outside the grammar, as
 * Postfix's reject_invalid_helo_hostname words it; undefined when the line is
 * for the library to answer (a valid name, or no name or several: its syntax
 * reply). The line is the command as smtp-server decodes it (UTF-8), so that
 * what is judged is what the library would keep.
 */
export function refuseHeloName(line: string): string | undefined {
  const rest = line.slice('EHLO'.length);
  const names = rest.split(/[ \t]+/).filter(Boolean);
  if (names.length === 0) return undefined;
  const outsideAscii = /[^\x20-\x7e\t]/.test(rest);
  if (!outsideAscii && (names.length > 1 || isHeloName(names[0]!))) return undefined;
  return `5.5.2 <${printableEcho(names[0]!)}>: Helo command rejected: Invalid name`;
}
