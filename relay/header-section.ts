import addressparser from 'nodemailer/lib/addressparser';

const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n');

/** One header field as it stands in the message: its bytes, including folded lines and the final CRLF. */
export interface HeaderField {
  /** Field name, lower-cased. */
  readonly name: string;
  /** The unfolded value, decoded as UTF-8 (RFC 6532 allows UTF-8 in headers). */
  readonly value: string;
  readonly raw: Buffer;
}

/**
 * Splits a header section (as the message reader returns it, ending in the
 * empty line) into fields, keeping each field's exact bytes so that the
 * section can be rebuilt byte for byte minus the fields we drop.
 */
export function parseHeaderSection(header: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let start = 0;
  let fieldStart = -1;
  const flush = (end: number) => {
    if (fieldStart < 0) return;
    const raw = header.subarray(fieldStart, end);
    const text = raw.toString('utf8');
    const colon = text.indexOf(':');
    const name = (colon > 0 ? text.slice(0, colon) : text).trim().toLowerCase();
    const value = colon > 0 ? text.slice(colon + 1).replace(/\r\n(?=[ \t])/g, '').trim() : '';
    fields.push({ name, value, raw });
    fieldStart = -1;
  };
  while (start < header.length) {
    const lineEnd = header.indexOf('\r\n', start);
    const next = lineEnd < 0 ? header.length : lineEnd + 2;
    if (next - start <= 2) break; // the empty line that ends the section
    const continues = header[start] === 0x20 || header[start] === 0x09;
    if (!continues) {
      flush(start);
      fieldStart = start;
    }
    start = next;
  }
  flush(start);
  return fields;
}

/**
 * `X-SES-*` fields let a sender choose SES behaviour per message (configuration
 * set, tags, source/from/return-path ARNs): a user could pick another team's
 * configuration set or identity. The relay sets its own from the user's
 * settings, so the client's are dropped. Everything else stays as sent.
 */
export function isClientSesDirective(field: HeaderField): boolean {
  return field.name.startsWith('x-ses-');
}

/** Rebuilds the header section from the fields kept, with the empty line that ends it if the original had one. */
export function buildHeaderSection(fields: readonly HeaderField[], original: Buffer): Buffer {
  const terminated = original.length === 2 ? original.equals(CRLF) : original.subarray(-4).equals(BLANK_LINE);
  return Buffer.concat([...fields.map((field) => field.raw), ...(terminated ? [CRLF] : [])]);
}

/**
 * The author addresses a message claims: every mailbox of its From field and
 * the Sender mailbox (RFC 5322 3.6.2). A message needs exactly one From field
 * and at most one Sender field; anything else cannot be judged.
 */
export function claimedSenders(fields: readonly HeaderField[]): { ok: true; claims: Array<{ field: 'From' | 'Sender'; address: string }> } | { ok: false; problem: string } {
  const from = fields.filter((field) => field.name === 'from');
  const sender = fields.filter((field) => field.name === 'sender');
  if (from.length !== 1) return { ok: false, problem: from.length ? 'more than one From header' : 'no From header' };
  if (sender.length > 1) return { ok: false, problem: 'more than one Sender header' };
  const claims: Array<{ field: 'From' | 'Sender'; address: string }> = [];
  for (const [name, list] of [['From', from], ['Sender', sender]] as const) {
    for (const field of list) {
      const mailboxes = addressparser(field.value, { flatten: true });
      if (!mailboxes.length || mailboxes.some((mailbox) => !mailbox.address)) {
        return { ok: false, problem: `unreadable ${name} header` };
      }
      for (const mailbox of mailboxes) claims.push({ field: name, address: mailbox.address });
    }
  }
  return { ok: true, claims };
}
