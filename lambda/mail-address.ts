import { domainToASCII } from 'node:url';

/**
 * What "the same address" means for ownership: the policy, the relay and
 * `relayctl` all compare addresses in this canonical form, so a sender cannot
 * slip past a check by writing an owned address differently.
 *
 * - The whole address is lower-cased. RFC 5321 lets a local part be
 *   case-sensitive, but no two users may differ by case only (Postfix lookup
 *   tables fold case the same way), so folding can only ever match the owner.
 * - A quoted local part whose content is a plain dot-atom is unquoted
 *   (`"john"@x` is `john@x`); any other quoted local part stays quoted and so
 *   matches no grant, which refuses it rather than guessing.
 * - An internationalised domain is converted to its A-label (punycode).
 * - A local part outside ASCII has no canonical form without SMTPUTF8, which
 *   SES does not offer: such an address is invalid.
 */

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export type AddressParseResult =
  | { readonly ok: true; readonly address: string; readonly localPart: string; readonly domain: string }
  | { readonly ok: false; readonly problem: 'syntax' | 'non-ascii-local-part' | 'not-fully-qualified' };

/** Canonicalises a mailbox (`local@domain`, no angle brackets). */
export function parseMailAddress(input: string): AddressParseResult {
  const at = input.lastIndexOf('@');
  if (at <= 0 || at === input.length - 1) return { ok: false, problem: 'syntax' };
  let localPart = input.slice(0, at);
  const rawDomain = input.slice(at + 1);

  if (localPart.startsWith('"') && localPart.endsWith('"') && localPart.length >= 2) {
    const inner = localPart.slice(1, -1).replace(/\\(.)/g, '$1');
    if (DOT_ATOM.test(inner)) localPart = inner;
  }
  if (/[^\x00-\x7f]/.test(localPart)) return { ok: false, problem: 'non-ascii-local-part' };
  if (!DOT_ATOM.test(localPart) && !/^"[\x20-\x7e]*"$/.test(localPart)) return { ok: false, problem: 'syntax' };
  if (localPart.length > 64) return { ok: false, problem: 'syntax' };

  const domain = canonicalDomain(rawDomain);
  if (domain === undefined) return { ok: false, problem: 'syntax' };
  if (!domain.includes('.')) return { ok: false, problem: 'not-fully-qualified' };

  const lowerLocal = localPart.toLowerCase();
  return { ok: true, address: `${lowerLocal}@${domain}`, localPart: lowerLocal, domain };
}

/** Lower-cased A-label form of a domain, or undefined when it is not a valid host name. */
export function canonicalDomain(input: string): string | undefined {
  if (input.length === 0 || input.endsWith('.') || input.startsWith('.')) return undefined;
  const ascii = /^[\x00-\x7f]*$/.test(input) ? input.toLowerCase() : domainToASCII(input);
  if (!ascii || ascii.length > 253) return undefined;
  return ascii.split('.').every((label) => DOMAIN_LABEL.test(label)) ? ascii : undefined;
}

/**
 * The address as it should travel: local part untouched (a receiving system
 * may treat its case as significant), domain in A-label form, as SES takes it.
 * Undefined when the address has no valid form.
 */
export function transportAddress(input: string): string | undefined {
  const at = input.lastIndexOf('@');
  const domain = at > 0 ? canonicalDomain(input.slice(at + 1)) : undefined;
  return domain ? `${input.slice(0, at)}@${domain}` : undefined;
}

/**
 * A sender grant names either one address or a whole domain (`@example.com`).
 * Returns the canonical form of either, or undefined when it is neither.
 */
export function canonicalGrant(input: string): string | undefined {
  if (input.startsWith('@')) {
    const domain = canonicalDomain(input.slice(1));
    return domain && domain.includes('.') ? `@${domain}` : undefined;
  }
  const parsed = parseMailAddress(input);
  return parsed.ok ? parsed.address : undefined;
}
