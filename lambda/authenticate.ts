import type { AuthenticateDecision, AuthenticateRequest, UserProfile } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { verifyAgainstDummy, verifyPassword } from './password-hash.ts';
import type { UserRecord, UserStore } from './user-store.ts';

const INVALID: AuthenticateDecision = { verdict: 'reject', reason: 'invalid-credentials' };

/**
 * Decides an AUTH. Unknown users, disabled users and wrong passwords take the
 * same path through one slow hash verification and get the same answer, so
 * neither the reply nor its timing tells them apart.
 */
export async function authenticate(store: UserStore, request: AuthenticateRequest): Promise<AuthenticateDecision> {
  const login = parseMailAddress(request.login);
  const user = login.ok ? await store.getUser(login.address) : undefined;
  if (!user) {
    await verifyAgainstDummy(request.password);
    return INVALID;
  }
  const { ok } = await verifyPassword(request.password, user.passwordHash);
  if (!ok || user.disabled) return INVALID;
  return { verdict: 'permit', user: profileOf(user) };
}

function profileOf(user: UserRecord): UserProfile {
  const { configurationSet, messageTags } = user.settings;
  return {
    login: user.login,
    ...(configurationSet ? { configurationSet } : {}),
    ...(messageTags ? { messageTags } : {}),
  };
}
