import type { SenderRecord, UserStore } from '../../lambda/user-store.ts';
import { announceChange } from './change-announcement.ts';

/** Why an address is taken already: it is a login, or it is granted (or aliased) to someone. */
export type AddressClaim =
  | { readonly by: 'login' }
  | { readonly by: 'grant'; readonly owner: string }
  | { readonly by: 'alias'; readonly aliasOf: string };

/**
 * Who already sends as `address`. An address belongs to one user at most:
 * making it a login while it is granted to someone else, or granting another
 * user's login, would let two users send as one address.
 */
export async function existingClaim(store: UserStore, address: string): Promise<AddressClaim | undefined> {
  if (!address.startsWith('@') && (await store.getUser(address))) return { by: 'login' };
  const record = await store.getSender(address);
  return record && claimOfRecord(record);
}

export function claimOfRecord(record: SenderRecord): AddressClaim {
  return 'owner' in record ? { by: 'grant', owner: record.owner } : { by: 'alias', aliasOf: record.aliasOf };
}

export function describeClaim(address: string, claim: AddressClaim): string {
  switch (claim.by) {
    case 'login':
      return `${address} is the login of a user`;
    case 'grant':
      return `${address} is granted to ${claim.owner}`;
    case 'alias':
      return `${address} is an alias of ${claim.aliasOf}`;
  }
}

/**
 * When `address` becomes owned explicitly (granted to `newOwner`, or made its
 * login), the user holding its domain loses it (sender-owner.ts): tells the
 * running relays so, through the change feed, and returns what to tell the
 * operator. Nothing when the domain is not granted, or to `newOwner` itself.
 */
export async function takeFromDomainHolder(store: UserStore, address: string, newOwner: string): Promise<string | undefined> {
  // Loaded on use: the resolver brings the AWS SDK with it.
  const { followGrant } = await import('../../lambda/sender-owner.ts');
  const domain = `@${address.slice(address.lastIndexOf('@') + 1)}`;
  const holder = (await followGrant(store, domain))?.owner;
  if (holder === undefined || holder === newOwner) return undefined;
  await announceChange(store, holder, 'senders');
  return `${domain} is granted to ${holder}, but from now on only ${newOwner} may send as ${address}`;
}
