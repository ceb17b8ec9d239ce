import type { AuthorizeSenderDecision, AuthorizeSenderRequest, SenderGrantKind } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { MAX_ALIAS_DEPTH, type UserStore } from './user-store.ts';

const NOT_OWNED: AuthorizeSenderDecision = { verdict: 'reject', reason: 'not-owned' };

/**
 * Postfix's reject_sender_login_mismatch, with the owner lookup of
 * smtpd_sender_login_maps: a user may send as the login itself, as an address
 * granted to it (directly or through a chain of aliases), or as any address of
 * a domain granted to it. Anything else, including an address that cannot be
 * canonicalised, is refused.
 */
export async function authorizeSender(
  store: UserStore,
  request: AuthorizeSenderRequest,
): Promise<AuthorizeSenderDecision> {
  const sender = parseMailAddress(request.sender);
  if (!sender.ok) return NOT_OWNED;
  if (sender.address === request.login) return permit('login');

  const byAddress = await resolveOwner(store, sender.address);
  if (byAddress?.owner === request.login) return permit(byAddress.kind);

  const byDomain = await resolveOwner(store, `@${sender.domain}`);
  if (byDomain?.owner === request.login) return permit('domain');

  return NOT_OWNED;
}

function permit(via: SenderGrantKind): AuthorizeSenderDecision {
  return { verdict: 'permit', via };
}

/**
 * Follows a grant to the login at its end. An alias points at another address,
 * which is either granted itself (the chain goes on) or is a login (the chain
 * ends there). A chain longer than MAX_ALIAS_DEPTH, or a loop, resolves to nobody.
 */
async function resolveOwner(
  store: UserStore,
  grant: string,
): Promise<{ owner: string; kind: 'address' | 'alias' } | undefined> {
  let current = grant;
  for (let depth = 0; depth < MAX_ALIAS_DEPTH; depth++) {
    const record = await store.getSender(current);
    if (!record) return depth === 0 ? undefined : { owner: current, kind: 'alias' };
    if ('owner' in record) return { owner: record.owner, kind: depth === 0 ? 'address' : 'alias' };
    current = record.aliasOf;
  }
  return undefined;
}
