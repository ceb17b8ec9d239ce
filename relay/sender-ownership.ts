import { parseMailAddress } from '../lambda/mail-address.ts';
import { PolicyUnavailableError, type PolicyClient } from '../lambda/policy-contract.ts';
import { printableEcho } from './printable-echo.ts';
import type { SenderField } from './sender-fields.ts';
import { SmtpError } from './smtp-error.ts';

/** Where the address was claimed: the envelope (MAIL FROM) or a header field. */
export type ClaimedIn = 'envelope' | SenderField;

const SUBJECT: Record<ClaimedIn, string> = {
  envelope: 'Sender address',
  From: 'From header address',
  Sender: 'Sender header address',
  'Resent-From': 'Resent-From header address',
  'Resent-Sender': 'Resent-Sender header address',
};

/**
 * Postfix's reject_sender_login_mismatch, for the envelope and (going further
 * than Postfix) for every address in the sender header fields: the user must own
 * every address the message claims to come from. Returns the canonical address
 * when owned; throws the SmtpError to answer otherwise.
 *
 * `alreadyOwned` lists canonical addresses proven in this transaction, so the
 * common case (From equals MAIL FROM) costs no second policy call.
 */
export async function requireOwnedSender(
  policy: PolicyClient,
  login: string,
  address: string,
  claim: ClaimedIn,
  alreadyOwned: readonly string[] = [],
): Promise<string> {
  const parsed = parseMailAddress(address);
  const shown = printableEcho(address);
  if (!parsed.ok && parsed.problem === 'non-ascii-local-part') {
    throw new SmtpError(553, '5.6.7', `<${shown}>: ${SUBJECT[claim]} rejected: non-ASCII local part requires SMTPUTF8, which is not offered`, undefined, 'sender-smtputf8');
  }
  // Built only when refusing: an Error's stack trace is not free on every MAIL FROM.
  const notOwned = () =>
    new SmtpError(553, '5.7.1', `<${shown}>: ${SUBJECT[claim]} rejected: not owned by user ${login}`, undefined, claim === 'envelope' ? 'sender-not-owned' : 'header-sender-not-owned');
  if (!parsed.ok) throw notOwned();
  if (parsed.address === login || alreadyOwned.includes(parsed.address)) return parsed.address;
  try {
    const decision = await policy.decide({ action: 'authorizeSender', login, sender: parsed.address });
    if (decision.verdict === 'reject') throw notOwned();
    return parsed.address;
  } catch (error) {
    if (error instanceof PolicyUnavailableError) {
      throw new SmtpError(454, '4.7.0', 'Temporary failure checking the sender, try again later', error.cause, 'sender-unavailable');
    }
    throw error;
  }
}
