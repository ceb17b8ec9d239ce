import { domainToASCII, domainToUnicode } from 'node:url';

/**
 * A strict reader of RFC 5322 3.4 `mailbox-list`, the grammar of From,
 * Sender (one mailbox) and their Resent- twins. It returns the addr-spec of
 * each mailbox as written, or undefined when the text is not such a list.
 *
 * Narrower than the RFC where readers disagree, so that what it accepts every
 * reader reads the same way:
 * - no group (RFC 5322 3.6.2 allows none in these fields) and no obs- syntax
 *   but the `.` in a display name (`John Q. Public`), which is everywhere;
 * - an addr-spec is written in one piece: no white space or comment inside it
 *   or around its `@`, no empty or doubled dots;
 * - a display name is words (atoms, quoted strings) only: an unquoted `@`,
 *   `<`, `>`, `:`, `;`, `[`, `]` or `\` in it is refused, and so is text after
 *   the angle address or a second one;
 * - no control character anywhere, and every quoted string, comment and angle
 *   address closed.
 * RFC 6532 UTF-8 is allowed in display names, comments and quoted strings.
 */
export function parseMailboxList(value: string): string[] | undefined {
  try {
    return new MailboxListReader(value).list();
  } catch (error) {
    if (error instanceof NotAMailboxList) return undefined;
    throw error;
  }
}

class NotAMailboxList extends Error {}

/**
 * A non-ASCII domain must read back as written through IDNA: otherwise IDNA
 * drops or folds characters (a zero-width space, a fullwidth letter) that other
 * readers keep, and the relay would judge another address than a person sees.
 */
function readsAsWritten(domain: string): boolean {
  if (!NON_ASCII.test(domain)) return true;
  const ascii = domainToASCII(domain);
  return ascii !== '' && domainToUnicode(ascii) === domain.normalize('NFC').toLowerCase();
}

const ATEXT = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]/;
/** Printable, non-ASCII (RFC 6532 UTF8-non-ascii). */
const NON_ASCII = /[^\x00-\x7f]/;
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

class MailboxListReader {
  private at = 0;

  constructor(private readonly text: string) {
    if (CONTROL.test(text)) throw new NotAMailboxList();
  }

  list(): string[] {
    const addresses = [this.mailbox()];
    while (this.peek() === ',') {
      this.at++;
      addresses.push(this.mailbox());
    }
    if (this.at !== this.text.length) throw new NotAMailboxList();
    return addresses;
  }

  /** `addr-spec` alone, or an optional display name and one angle address; either with CFWS around. */
  private mailbox(): string {
    this.cfws();
    const start = this.at;
    const bare = this.tryAddrSpec();
    if (bare !== undefined) {
      this.cfws();
      if (this.atEnd() || this.peek() === ',') return bare;
      this.at = start;
    }
    let words = 0;
    for (;;) {
      this.cfws();
      const char = this.peek();
      if (char === '<') break;
      if (char === '"') this.quotedString();
      else if (char === '.' && words > 0) this.at++;
      else if (this.isWordChar(char)) this.atom();
      else throw new NotAMailboxList();
      words++;
    }
    this.at++; // '<'
    const address = this.tryAddrSpec();
    if (address === undefined || this.peek() !== '>') throw new NotAMailboxList();
    this.at++;
    this.cfws();
    return address;
  }

  /** `local-part "@" domain` with no CFWS inside; undefined (position kept) when there is none here. */
  private tryAddrSpec(): string | undefined {
    const start = this.at;
    try {
      if (this.peek() === '"') this.quotedString();
      else this.dotAtom();
      if (this.peek() !== '@') throw new NotAMailboxList();
      this.at++;
      const domainStart = this.at;
      if (this.peek() === '[') this.domainLiteral();
      else this.dotAtom();
      if (!readsAsWritten(this.text.slice(domainStart, this.at))) throw new NotAMailboxList();
      return this.text.slice(start, this.at);
    } catch (error) {
      if (!(error instanceof NotAMailboxList)) throw error;
      this.at = start;
      return undefined;
    }
  }

  private dotAtom(): void {
    this.atom();
    while (this.peek() === '.') {
      this.at++;
      this.atom();
    }
  }

  /**
   * One or more atext characters, UTF-8 included (RFC 6532): in a local part
   * it needs SMTPUTF8, which the ownership check refuses with its own reply.
   */
  private atom(): void {
    const start = this.at;
    while (this.isWordChar(this.peek())) this.at++;
    if (this.at === start) throw new NotAMailboxList();
  }

  private isWordChar(char: string): boolean {
    return char !== '' && (ATEXT.test(char) || NON_ASCII.test(char));
  }

  private quotedString(): void {
    this.at++; // '"'
    for (;;) {
      const char = this.take();
      if (char === '"') return;
      if (char === '\\') this.take();
    }
  }

  private domainLiteral(): void {
    this.at++; // '['
    for (;;) {
      const char = this.take();
      if (char === ']') return;
      if (char === '[' || char === '\\' || char === ' ' || char === '\t') throw new NotAMailboxList();
    }
  }

  /** White space and comments, nested comments included. */
  private cfws(): void {
    for (;;) {
      const char = this.peek();
      if (char === ' ' || char === '\t') this.at++;
      else if (char === '(') this.comment();
      else return;
    }
  }

  private comment(): void {
    this.at++; // '('
    for (let depth = 1; depth > 0; ) {
      const char = this.take();
      if (char === '(') depth++;
      else if (char === ')') depth--;
      else if (char === '\\') this.take();
    }
  }

  private peek(): string {
    return this.text[this.at] ?? '';
  }

  private atEnd(): boolean {
    return this.at >= this.text.length;
  }

  /** The next character; the text ending here is a list left open. */
  private take(): string {
    if (this.atEnd()) throw new NotAMailboxList();
    return this.text[this.at++]!;
  }
}
