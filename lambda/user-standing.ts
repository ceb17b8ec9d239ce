import { BlockList, isIPv6 } from 'node:net';
import type { SuspendedDecision, UserProfile } from './policy-contract.ts';
import type { UserRecord } from './user-store.ts';

export type Standing =
  | { readonly verdict: 'permit'; readonly user: UserProfile }
  | { readonly verdict: 'reject'; readonly reason: 'network' }
  | SuspendedDecision;

/**
 * Whether a user whose credentials hold (right password at AUTH, or the same
 * password still in force for an open session) may use the relay from
 * `clientAddress` now, and with which profile: the part of the decision that
 * AUTH and a session's confirmation share.
 */
export function judgeStanding(user: UserRecord, clientAddress: string): Standing {
  if (!fromAllowedNetwork(user, clientAddress)) return { verdict: 'reject', reason: 'network' };
  if (user.restriction?.state === 'suspended') return { verdict: 'reject', reason: 'suspended', text: user.restriction.reason };
  return { verdict: 'permit', user: profileOf(user) };
}

/** The stamp of the user's current password; records from before passwordChangedAt use their creation time. */
export function passwordSetAtOf(user: UserRecord): string {
  return user.passwordChangedAt ?? user.createdAt;
}

function fromAllowedNetwork(user: UserRecord, clientAddress: string): boolean {
  const networks = user.settings.allowedNetworks;
  if (!networks?.length) return true;
  const allowed = new BlockList();
  for (const network of networks) {
    const [address = '', prefix] = network.split('/');
    const type = isIPv6(address) ? 'ipv6' : 'ipv4';
    allowed.addSubnet(address, Number(prefix ?? (type === 'ipv6' ? 128 : 32)), type);
  }
  return allowed.check(clientAddress, isIPv6(clientAddress) ? 'ipv6' : 'ipv4');
}

function profileOf(user: UserRecord): UserProfile {
  const { configurationSet, messageTags, limits } = user.settings;
  const { restriction } = user;
  return {
    login: user.login,
    ...(configurationSet ? { configurationSet } : {}),
    ...(messageTags && Object.keys(messageTags).length ? { messageTags } : {}),
    ...(limits && Object.keys(limits).length ? { limits } : {}),
    ...(restriction?.state === 'throttled' && restriction.messagesPerMinute !== undefined
      ? { throttle: { messagesPerMinute: restriction.messagesPerMinute } }
      : {}),
    passwordSetAt: passwordSetAtOf(user),
  };
}
