import assert from 'node:assert/strict';
import type { SmtpDialogue, SmtpReply } from './smtp-dialogue.ts';

/** A message as sent in DATA: dot-stuffed (a line that starts with a dot gets another) and terminated. */
export function dataOf(message: Buffer | string): Buffer {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const atLineStart = start === 0 || (bytes[start - 1] === 0x0a && bytes[start - 2] === 0x0d);
    if (atLineStart && bytes[start] === 0x2e) lines.push(Buffer.from('.'));
    const end = bytes.indexOf('\r\n', start);
    if (end < 0) break;
    lines.push(bytes.subarray(start, end + 2));
    start = end + 2;
  }
  const rest = bytes.subarray(start);
  return Buffer.concat([...lines, rest, Buffer.from(rest.length ? '\r\n.\r\n' : '.\r\n')]);
}

/**
 * MAIL, RCPT and DATA on an authenticated session with the message given
 * (dot-stuffed here); returns the reply to the end of DATA. MAIL and RCPT must
 * succeed: the tests that use this judge the message, not the envelope.
 */
export async function sendThrough(smtp: SmtpDialogue, from: string, message: Buffer | string, recipient = 'someone@example.net'): Promise<SmtpReply> {
  assert.equal((await smtp.command(`MAIL FROM:<${from}>`)).code, 250);
  assert.equal((await smtp.command(`RCPT TO:<${recipient}>`)).code, 250);
  assert.equal((await smtp.command('DATA')).code, 354);
  smtp.write(dataOf(message));
  return smtp.read(10_000);
}

/** The SES message id a `250 2.0.0 Ok: queued as <id>` reply names. */
export const queuedId = (text: string): string | undefined => /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(text)?.[1];
