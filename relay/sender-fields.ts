import { parseMailAddress } from '../lambda/mail-address.ts';
import { decodeEncodedWords } from './encoded-words.ts';
import type { HeaderField } from './header-section.ts';
import { parseMailboxList } from './mailbox-list.ts';

/** The header fields that name who a message is from (RFC 5322 3.6.2 and 3.6.6). */
export type SenderField = 'From' | 'Sender' | 'Resent-From' | 'Resent-Sender';

const SENDER_FIELDS: ReadonlyMap<string, SenderField> = new Map([
  ['from', 'From'],
  ['sender', 'Sender'],
  ['resent-from', 'Resent-From'],
  ['resent-sender', 'Resent-Sender'],
]);

/** Mailboxes one sender field may list. */
export const MAX_MAILBOXES_PER_FIELD = 10;
/** Distinct addresses the sender fields of one message may name: the most policy calls a message can cost. */
export const MAX_SENDER_ADDRESSES = 10;

export interface SenderClaim {
  readonly field: SenderField;
  /** As written in the field (an addr-spec, or text in a display name or comment that reads as an address). */
  readonly address: string;
}

export type SenderClaims = { readonly ok: true; readonly claims: SenderClaim[] } | { readonly ok: false; readonly problem: string };

/**
 * What a message claims about who sent it, for the ownership check: every
 * address anywhere in its From, Sender, Resent-From and Resent-Sender fields,
 * once each (the first field naming it), in the order written.
 *
 * "Anywhere" because readers show more than the addr-spec: a display name or a
 * comment that reads `ceo@corp.example` is what a person sees as the sender.
 * So each field's text is decoded (encoded words, RFC 2047, even where the RFC
 * does not allow them), folded to NFKC (a fullwidth `＠` is an `@`), and every
 * run of text around an `@` is a claim. A display name that repeats an owned
 * address costs nothing more. Reply-To is not here: it names where replies go,
 * which is the user's choice (see docs/security.md).
 *
 * Refused (`problem`): no From or more than one, more than one Sender, a field
 * that is not a strict mailbox list (mailbox-list.ts) or not valid UTF-8, an
 * encoded word that cannot be decoded, more than MAX_MAILBOXES_PER_FIELD
 * mailboxes in a field or more than MAX_SENDER_ADDRESSES addresses in all.
 */
export function claimedSenders(fields: readonly HeaderField[]): SenderClaims {
  const from = fields.filter((field) => field.name === 'from').length;
  const sender = fields.filter((field) => field.name === 'sender').length;
  if (from !== 1) return { ok: false, problem: from ? 'more than one From header' : 'no From header' };
  if (sender > 1) return { ok: false, problem: 'more than one Sender header' };

  const claims = new Map<string, SenderClaim>();
  for (const field of fields) {
    const name = SENDER_FIELDS.get(field.name);
    if (!name) continue;
    const value = validUtf8(field) ? field.value : undefined;
    const mailboxes = value === undefined ? undefined : parseMailboxList(value);
    const mentioned = value === undefined ? undefined : addressesMentioned(value);
    if (!mailboxes || !mentioned) return { ok: false, problem: `unreadable ${name} header` };
    if (mailboxes.length > MAX_MAILBOXES_PER_FIELD) return { ok: false, problem: `${name} header names more than ${MAX_MAILBOXES_PER_FIELD} mailboxes` };
    for (const address of [...mentioned, ...mailboxes]) {
      const parsed = parseMailAddress(address);
      const key = parsed.ok ? parsed.address : address;
      if (!claims.has(key)) claims.set(key, { field: name, address });
    }
    if (claims.size > MAX_SENDER_ADDRESSES) return { ok: false, problem: `the sender fields name more than ${MAX_SENDER_ADDRESSES} addresses` };
  }
  return { ok: true, claims: [...claims.values()] };
}

/** Text between these cannot be part of one address as a reader shows it. */
const ADDRESS_LIKE = /[^\s<>()[\]",;:\\]+/gu;
/** The same with quotes and quoted pairs inside: `"ceo"@corp.example` and `"c\eo"@corp.example` read as ceo@corp.example. */
const QUOTED_ADDRESS_LIKE = /[^\s<>()[\],;:]+/gu;

/** A quoted local part with its domain, spaces and all: `"alice "@example.org` reads as one address. */
const QUOTED_LOCAL_PART_ADDRESS = /"[^"]*"@[^\s<>()[\]",;:\\]+/gu;

/**
 * Every run of text in the field that reads as an address (something on both
 * sides of an `@`), as written and once decoded and folded; undefined when an
 * encoded word cannot be decoded. Quotes and backslashes are read both ways,
 * as the end of a run and as nothing at all, since a reader may show either.
 */
function addressesMentioned(value: string): string[] | undefined {
  const decoded = decodeEncodedWords(value);
  if (decoded === undefined) return undefined;
  const found = new Set<string>();
  for (const text of [value, decoded.normalize('NFKC')]) {
    const runs = [...text.matchAll(ADDRESS_LIKE)].map(([run]) => run);
    const unquoted = [...text.matchAll(QUOTED_ADDRESS_LIKE)].map(([run]) => run.replace(/["\\]/g, ''));
    // Inside a quoted display name, `\"` is a quote a reader shows: `"\"alice \"@example.org"`.
    const quotedLocalParts = [...text.replace(/\\(.)/gu, '$1').matchAll(QUOTED_LOCAL_PART_ADDRESS)].map(([run]) => run);
    for (const run of [...runs, ...unquoted, ...quotedLocalParts]) {
      const at = run.indexOf('@');
      if (at > 0 && at < run.length - 1) found.add(run);
    }
  }
  return [...found];
}

/** RFC 6532: 8-bit text in a header is UTF-8; anything else reads differently in every reader. */
function validUtf8(field: HeaderField): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(field.raw);
    return true;
  } catch {
    return false;
  }
}
