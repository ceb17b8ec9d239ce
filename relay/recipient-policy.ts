import { parseMailAddress } from '../lambda/mail-address.ts';
import { printableEcho } from './printable-echo.ts';
import { SmtpError } from './smtp-error.ts';

/**
 * Recipient checks that need no lookup. SES delivers to fully qualified
 * Internet addresses only, and cannot take an SMTPUTF8 address, so anything
 * else is refused here rather than after DATA.
 */
export function rejectUnacceptableRecipient(address: string): SmtpError | undefined {
  const shown = printableEcho(address);
  if (/[^\x00-\x7f]/.test(address.slice(0, address.lastIndexOf('@')))) {
    return new SmtpError(553, '5.6.7', `<${shown}>: Recipient address rejected: non-ASCII local part requires SMTPUTF8, which is not offered`, undefined, 'rcpt-smtputf8');
  }
  const domain = address.slice(address.lastIndexOf('@') + 1);
  if (domain.startsWith('[')) {
    return new SmtpError(501, '5.1.3', `<${shown}>: Recipient address rejected: address literals are not accepted`, undefined, 'rcpt-literal');
  }
  const parsed = parseMailAddress(address);
  if (!parsed.ok) {
    return parsed.problem === 'not-fully-qualified'
      ? new SmtpError(501, '5.1.3', `<${shown}>: Recipient address rejected: need fully-qualified address`, undefined, 'rcpt-unqualified')
      : new SmtpError(501, '5.1.3', `<${shown}>: Recipient address rejected: bad address syntax`, undefined, 'rcpt-syntax');
  }
  return undefined;
}
