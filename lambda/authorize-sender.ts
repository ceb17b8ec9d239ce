import type { AuthorizeSenderDecision, AuthorizeSenderRequest } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { ownerOfSender } from './sender-owner.ts';
import type { UserStore } from './user-store.ts';

const NOT_OWNED: AuthorizeSenderDecision = { verdict: 'reject', reason: 'not-owned' };

/**
 * Postfix's reject_sender_login_mismatch, with the owner lookup of
 * smtpd_sender_login_maps (sender-owner.ts): a user may send as the login
 * itself, as an address granted to it (directly or through a chain of
 * aliases), or as an address of a domain granted to it that no one owns
 * explicitly. Anything else, including an address that cannot be
 * canonicalised, is refused.
 */
export async function authorizeSender(
  store: UserStore,
  request: AuthorizeSenderRequest,
): Promise<AuthorizeSenderDecision> {
  const sender = parseMailAddress(request.sender);
  if (!sender.ok) return NOT_OWNED;
  // What ownerOfSender would answer too, without reading the store.
  if (sender.address === request.login) return { verdict: 'permit', via: 'login' };
  const ownership = await ownerOfSender(store, sender.address);
  return ownership.owner === request.login ? { verdict: 'permit', via: ownership.via } : NOT_OWNED;
}
