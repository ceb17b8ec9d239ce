import { BlockList, isIPv6 } from 'node:net';
import type { AuthenticateDecision, AuthenticateRequest, UserProfile } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './password-hash.ts';
import type { UserRecord, UserStore } from './user-store.ts';

const INVALID = { verdict: 'reject', reason: 'invalid-credentials' } as const satisfies AuthenticateDecision;

/**
 * Why a login is refused. For the log and the operator (`relayctl auth test`),
 * never for the client: `authenticate` answers all of them alike.
 */
export type LoginRefusal = 'unknown-user' | 'wrong-password' | 'disabled' | 'network';

export type LoginJudgement = { readonly verdict: 'permit'; readonly user: UserRecord } | { readonly verdict: 'reject'; readonly refusal: LoginRefusal };

/**
 * Judges a login with its password. Unknown users, disabled users and wrong
 * passwords take the same path through one slow hash verification, so that
 * the timing tells them apart no more than `authenticate`'s answer does. The
 * network limit is checked only when a client address is given (a login over
 * SMTP always has one; `relayctl auth test` may leave it out).
 *
 * A password stored in a legacy scheme (imported from Dovecot) or with weaker
 * scrypt parameters is rehashed on the first successful login; the write is
 * conditional on the old hash, so it never undoes a password change made
 * meanwhile, and its failure never fails the login.
 */
export async function judgeLogin(store: UserStore, loginText: string, password: string, clientAddress: string | undefined): Promise<LoginJudgement> {
  const login = parseMailAddress(loginText);
  const user = login.ok ? await store.getUser(login.address) : undefined;
  if (!user) {
    await verifyAgainstDummy(password);
    return { verdict: 'reject', refusal: 'unknown-user' };
  }
  const { ok, needsRehash } = await verifyPassword(password, user.passwordHash);
  if (!ok) return { verdict: 'reject', refusal: 'wrong-password' };
  if (user.disabled) return { verdict: 'reject', refusal: 'disabled' };
  if (clientAddress !== undefined && !fromAllowedNetwork(user, clientAddress)) return { verdict: 'reject', refusal: 'network' };
  if (needsRehash) {
    await hashPassword(password)
      .then((hash) => store.replacePasswordHash(user.login, user.passwordHash, hash))
      .catch(() => undefined);
  }
  return { verdict: 'permit', user };
}

/**
 * Decides an AUTH: every refusal gets one answer, so that nobody can tell an
 * unknown user from a wrong password (no user enumeration). A user limited to
 * some networks is refused with that same answer; the log learns why.
 */
export async function authenticate(store: UserStore, request: AuthenticateRequest): Promise<AuthenticateDecision> {
  const judgement = await judgeLogin(store, request.login, request.password, request.clientAddress);
  if (judgement.verdict === 'permit') return { verdict: 'permit', user: profileOf(judgement.user) };
  return judgement.refusal === 'network' ? { ...INVALID, detail: 'network' } : INVALID;
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
    ...(configurationSet ? { configurationSet } : {}),
    ...(messageTags && Object.keys(messageTags).length ? { messageTags } : {}),
    ...(limits && Object.keys(limits).length ? { limits } : {}),
  };
}
