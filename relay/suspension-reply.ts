import { SmtpError } from './smtp-error.ts';

/** Longest reason quoted in a reply: an SMTP reply line is at most 512 octets (RFC 5321 4.5.3.1.5). */
const MAX_REASON_LENGTH = 200;

/**
 * `550 5.7.1` for a suspended account, at AUTH (right password only), at MAIL
 * and before SES: says why (the restriction's reason, set by the reputation
 * guard or an operator) and whom to ask. The reason is stored text, not ours:
 * anything but printable ASCII becomes `?` so that it cannot break the reply.
 */
export function suspendedReply(reason: string, contact: string): SmtpError {
  const printable = reason.replace(/[^\x20-\x7e]/g, '?').trim().slice(0, MAX_REASON_LENGTH) || 'sending reputation';
  return new SmtpError(550, '5.7.1', `Account suspended: ${printable}; to have it reinstated, contact ${contact}`, undefined, 'suspended');
}
