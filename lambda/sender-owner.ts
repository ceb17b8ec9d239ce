import type { SenderGrantKind } from './policy-contract.ts';
import { MAX_ALIAS_DEPTH, type UserStore } from './user-store.ts';

/**
 * Who owns an envelope sender, decided the way Postfix looks up
 * `smtpd_sender_login_maps`: the full address first, the domain only when
 * nothing names the address itself. The policy's sender check and
 * `relayctl who` both ask this one function, so what the operator is shown is
 * what the relay enforces.
 *
 * Precedence, first match wins:
 *   1. the address is a user's login (disabled or not): that user;
 *   2. the address is granted, or is an alias: whoever its chain ends at, and
 *      nobody when the chain is too long or loops; never the domain's owner;
 *   3. the domain (`@domain`) is granted: its owner, through its chain.
 * So a domain grant covers only the addresses nobody owns explicitly.
 */

/** One record followed on the way to the owner. */
export type OwnershipStep =
  | { readonly grant: string; readonly owner: string }
  | { readonly grant: string; readonly aliasOf: string };

export type SenderOwnership =
  | {
      readonly owner: string;
      readonly via: SenderGrantKind;
      /** The records followed, in order; empty for a login. */
      readonly steps: readonly OwnershipStep[];
    }
  | {
      readonly owner?: undefined;
      /** `unclaimed`: nothing names the address or its domain; `alias-chain-broken`: longer than MAX_ALIAS_DEPTH or a loop. */
      readonly why: 'unclaimed' | 'alias-chain-broken';
      readonly steps: readonly OwnershipStep[];
    };

/** The owner of `address`, a canonical mailbox (see mail-address.ts). */
export async function ownerOfSender(store: UserStore, address: string): Promise<SenderOwnership> {
  // The login and the address's own record are asked for together: one round trip, not two.
  const [user, byAddress] = await Promise.all([store.getUser(address), followGrant(store, address)]);
  if (user) return { owner: user.login, via: 'login', steps: [] };
  if (byAddress) return byAddress;
  const byDomain = await followGrant(store, `@${address.slice(address.lastIndexOf('@') + 1)}`);
  if (!byDomain) return { why: 'unclaimed', steps: [] };
  return byDomain.owner === undefined ? byDomain : { ...byDomain, via: 'domain' };
}

/**
 * Follows the grant stored under `grant` (an address or `@domain`) to the
 * login at its end, or undefined when nothing is stored under it. An alias
 * points at another address, which is either stored itself (the chain goes
 * on) or is a login (the chain ends there).
 */
export async function followGrant(store: UserStore, grant: string): Promise<SenderOwnership | undefined> {
  const steps: OwnershipStep[] = [];
  let current = grant;
  for (let depth = 0; depth < MAX_ALIAS_DEPTH; depth++) {
    const record = await store.getSender(current);
    if (!record) return depth === 0 ? undefined : { owner: current, via: 'alias', steps };
    if ('owner' in record) {
      steps.push({ grant: record.grant, owner: record.owner });
      return { owner: record.owner, via: depth === 0 ? 'address' : 'alias', steps };
    }
    steps.push({ grant: record.grant, aliasOf: record.aliasOf });
    current = record.aliasOf;
  }
  return { why: 'alias-chain-broken', steps };
}
