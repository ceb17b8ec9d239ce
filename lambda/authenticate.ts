import { BlockList, isIPv6 } from 'node:net';
import type { AuthenticateDecision, AuthenticateRequest, UserProfile } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './password-hash.ts';
import type { UserRecord, UserStore } from './user-store.ts';

const INVALID = { verdict: 'reject', reason: 'invalid-credentials' } as const satisfies AuthenticateDecision;

/**
 * Decides an AUTH. Unknown users, disabled users and wrong passwords take the
 * same path through one slow hash verification and get the same answer, so
 * neither the reply nor its timing tells them apart. A user limited to some
 * networks is refused elsewhere with that same answer.
 *
 * A password stored in a legacy scheme (imported from Dovecot) or with weaker
 * scrypt parameters is rehashed on the first successful login; the write is
 * conditional on the old hash, so it never undoes a password change made
 * meanwhile, and its failure never fails the login.
 */
export async function authenticate(store: UserStore, request: AuthenticateRequest): Promise<AuthenticateDecision> {
  const login = parseMailAddress(request.login);
  const user = login.ok ? await store.getUser(login.address) : undefined;
  if (!user) {
    await verifyAgainstDummy(request.password);
    return INVALID;
  }
  const { ok, needsRehash } = await verifyPassword(request.password, user.passwordHash);
  if (!ok || user.disabled) return INVALID;
  if (!fromAllowedNetwork(user, request.clientAddress)) return { ...INVALID, detail: 'network' };
  if (needsRehash) {
    await hashPassword(request.password)
      .then((hash) => store.replacePasswordHash(user.login, user.passwordHash, hash))
      .catch(() => undefined);
  }
  return { verdict: 'permit', user: profileOf(user) };
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
  return {
    login: user.login,
    ...(user.userId ? { userId: user.userId } : {}),
    ...(configurationSet ? { configurationSet } : {}),
    ...(messageTags && Object.keys(messageTags).length ? { messageTags } : {}),
    ...(limits && Object.keys(limits).length ? { limits } : {}),
  };
}
