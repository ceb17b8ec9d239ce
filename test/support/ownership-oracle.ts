import { domainToASCII } from 'node:url';

/**
 * Who owns what, decided for the fuzz tests independently of the relay's own
 * parser (lambda/mail-address.ts): RFC 5321 mailbox equality as the grants
 * mean it, case-folded, quotes and quoted-pairs undone, domain as A-label.
 */
export function normalise(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  let local = address.slice(0, at);
  if (local.length >= 2 && local.startsWith('"') && local.endsWith('"')) local = local.slice(1, -1).replace(/\\(.)/g, '$1');
  const domain = domainToASCII(address.slice(at + 1).toLowerCase());
  return domain ? `${local.toLowerCase()}@${domain}` : undefined;
}

/** True when the login owns the address: it is the login, a granted address, or in a granted domain (`@domain`, no subdomains). */
export function ownsAddress(login: string, grants: readonly string[], address: string): boolean {
  const canonical = normalise(address);
  if (canonical === undefined) return false;
  if (canonical === login) return true;
  return grants.some((grant) => (grant.startsWith('@') ? canonical.endsWith(grant) && !canonical.slice(0, -grant.length).includes('@') : canonical === grant));
}
