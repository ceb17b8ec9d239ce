const CRLF = Buffer.from('\r\n');
const BLANK_LINE = Buffer.from('\r\n\r\n');
const COLON = 0x3a;
const SPACE = 0x20;
const TAB = 0x09;

/** One header field as it stands in the message: its bytes, including folded lines and the final CRLF. */
export interface HeaderField {
  /** Field name, lower-cased, without the white space obs-syntax allows before the colon. */
  readonly name: string;
  /** The unfolded value, decoded as UTF-8 (RFC 6532 allows UTF-8 in headers). */
  readonly value: string;
  readonly raw: Buffer;
}

export type HeaderSectionParse = { readonly ok: true; readonly fields: HeaderField[] } | { readonly ok: false; readonly problem: string };

const BAD_NAME = 'malformed header field name (RFC 5322 2.2)';

/**
 * Splits a header section (as the message reader returns it, ending in the
 * empty line) into fields, keeping each field's exact bytes so that the
 * section can be rebuilt byte for byte minus the fields we drop.
 *
 * Strict where mail parsers disagree: a field name is printable ASCII other
 * than the colon (RFC 5322 ftext), followed by nothing but optional white
 * space (obs-optional) and the colon, on the field's first line. A line with
 * no colon, a name folded across lines, a name with a NUL, an 8-bit byte or a
 * lookalike character, a section that starts with a folded line, and a line
 * of white space only are refused: one parser would see a field where another
 * sees none, or a different one.
 */
export function parseHeaderSection(header: Buffer): HeaderSectionParse {
  const fields: HeaderField[] = [];
  let start = 0;
  let fieldStart = -1;
  let fieldName = '';
  let colon = -1;
  const flush = (end: number) => {
    if (fieldStart < 0) return;
    const raw = header.subarray(fieldStart, end);
    const value = raw.subarray(colon - fieldStart + 1).toString('utf8').replace(/\r\n(?=[ \t])/g, '').trim();
    fields.push({ name: fieldName, value, raw });
    fieldStart = -1;
  };
  while (start < header.length) {
    const lineEnd = header.indexOf(CRLF, start);
    const end = lineEnd < 0 ? header.length : lineEnd;
    if (end === start) break; // the empty line that ends the section
    const continues = header[start] === SPACE || header[start] === TAB;
    if (continues) {
      if (fieldStart < 0) return { ok: false, problem: BAD_NAME };
      if (isWhiteSpace(header.subarray(start, end))) return { ok: false, problem: 'a header line holds only white space' };
    } else {
      flush(start);
      const name = fieldNameOf(header.subarray(start, end));
      if (name === undefined) return { ok: false, problem: BAD_NAME };
      fieldStart = start;
      fieldName = name.name;
      colon = start + name.colon;
    }
    start = lineEnd < 0 ? header.length : lineEnd + 2;
  }
  flush(start);
  return { ok: true, fields };
}

/** The lower-cased name of a field's first line and where its colon is, or undefined when it has no valid name. */
function fieldNameOf(line: Buffer): { name: string; colon: number } | undefined {
  const colon = line.indexOf(COLON);
  if (colon < 0) return undefined;
  let nameEnd = colon;
  while (nameEnd > 0 && (line[nameEnd - 1] === SPACE || line[nameEnd - 1] === TAB)) nameEnd--;
  if (nameEnd === 0) return undefined;
  for (let i = 0; i < nameEnd; i++) {
    const byte = line[i]!;
    if (byte < 0x21 || byte > 0x7e) return undefined; // the colon cannot be here: it is the first one
  }
  return { name: line.subarray(0, nameEnd).toString('utf8').toLowerCase(), colon };
}

function isWhiteSpace(line: Buffer): boolean {
  return line.every((byte) => byte === SPACE || byte === TAB);
}

/**
 * `X-SES-*` fields let a sender choose SES behaviour per message (configuration
 * set, tags, source/from/return-path ARNs): a user could pick another team's
 * configuration set or identity. The relay sets its own from the user's
 * settings, so the client's are dropped. Everything else stays as sent. The
 * name is the normalized one (case folded, white space before the colon gone),
 * and only a valid field name gets this far.
 */
export function isClientSesDirective(field: HeaderField): boolean {
  return field.name.startsWith('x-ses-');
}

/** Rebuilds the header section from the fields kept, with the empty line that ends it if the original had one. */
function buildHeaderSection(fields: readonly HeaderField[], original: Buffer): Buffer {
  const terminated = original.length === 2 ? original.equals(CRLF) : original.subarray(-4).equals(BLANK_LINE);
  return Buffer.concat([...fields.map((field) => field.raw), ...(terminated ? [CRLF] : [])]);
}

/**
 * The header section exactly as it will leave: the client's, its X-SES-*
 * directives dropped, under the trace header, with its fields as a reader of
 * those very bytes finds them. The checks that follow judge these fields, so
 * nothing put in front of the client's header (the trace header, whatever it
 * may one day carry) can slip a field past them. `problem` when the client's
 * section is malformed; throws when the section that would leave no longer
 * parses or still holds an X-SES-* field, which cannot happen unless the
 * trace header is broken: nothing is sent then.
 */
export function outgoingHeaderSection(trace: Buffer, header: Buffer): { ok: true; section: Buffer; fields: HeaderField[] } | { ok: false; problem: string } {
  const received = parseHeaderSection(header);
  if (!received.ok) return received;
  const kept = received.fields.filter((field) => !isClientSesDirective(field));
  const section = Buffer.concat([trace, kept.length === received.fields.length ? header : buildHeaderSection(kept, header)]);
  const leaving = parseHeaderSection(section);
  if (!leaving.ok || leaving.fields.some(isClientSesDirective)) {
    throw new Error('the outgoing header section fails the checks its parts passed');
  }
  return { ok: true, section, fields: leaving.fields };
}
