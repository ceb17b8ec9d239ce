import type { SenderRecord, UserStore } from '../../lambda/user-store.ts';

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
