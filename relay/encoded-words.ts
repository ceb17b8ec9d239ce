/** RFC 2047 encoded-word; an RFC 2231 language suffix (`utf-8*en`) is allowed and ignored. */
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=/g;
/** White space between two encoded words is not part of the text (RFC 2047 6.2). */
const BETWEEN_WORDS = /(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)/g;
/** Decoding rounds: an encoded word may encode another; past this the text is refused. */
const MAX_ROUNDS = 4;

/**
 * The text a reader sees once every encoded word in it is decoded, for judging
 * (never for sending: the message leaves as the client wrote it). Decodes more
 * than RFC 2047 allows, because some readers do: words inside quoted strings
 * and inside other text, words split in the middle of a character (adjacent
 * words of one charset are decoded together), and words that decode into more
 * words. Undefined when a word cannot be decoded for certain (a charset Node
 * does not know, such as UTF-7, or bytes invalid in their charset): what a
 * reader would show is then unknown, and the caller refuses it.
 */
export function decodeEncodedWords(text: string): string | undefined {
  let current = text;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const next = decodeOnce(current);
    if (next === undefined || next === current) return next;
    current = next;
  }
  return undefined;
}

function decodeOnce(text: string): string | undefined {
  const joined = text.replace(BETWEEN_WORDS, '$1');
  const out: string[] = [];
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  let failed = false;
  const flush = () => {
    if (!pending) return;
    const decoded = decodeBytes(pending.charset, Buffer.concat(pending.bytes));
    if (decoded === undefined) failed = true;
    else out.push(decoded);
    pending = undefined;
  };
  let last = 0;
  for (const match of joined.matchAll(ENCODED_WORD)) {
    const [word, rawCharset = '', encoding = '', payload = ''] = match;
    if (match.index !== last) {
      flush();
      out.push(joined.slice(last, match.index));
    }
    const charset = rawCharset.toLowerCase();
    const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(payload, 'base64') : quotedPrintableBytes(payload);
    if (pending?.charset !== charset) flush();
    pending ??= { charset, bytes: [] };
    pending.bytes.push(bytes);
    last = match.index + word.length;
  }
  flush();
  out.push(joined.slice(last));
  return failed ? undefined : out.join('');
}

/** RFC 2047 4.2 "Q": `_` is a space, `=XX` a byte, anything else itself. */
function quotedPrintableBytes(payload: string): Buffer {
  const text = payload.replace(/_/g, ' ');
  const bytes: Buffer[] = [];
  let last = 0;
  for (const match of text.matchAll(/=([0-9A-Fa-f]{2})/g)) {
    bytes.push(Buffer.from(text.slice(last, match.index), 'utf8'), Buffer.from([parseInt(match[1]!, 16)]));
    last = match.index + match[0].length;
  }
  bytes.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(bytes);
}

function decodeBytes(charset: string, bytes: Buffer): string | undefined {
  try {
    return new TextDecoder(charset, { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
