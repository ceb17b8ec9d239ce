import type { AuthenticateDecision, AuthenticateRequest } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './password-hash.ts';
import { judgeStanding } from './user-standing.ts';
import type { UserStore } from './user-store.ts';

const INVALID = { verdict: 'reject', reason: 'invalid-credentials' } as const satisfies AuthenticateDecision;

/**
 * Decides an AUTH. Unknown users, disabled users and wrong passwords take the
 * same path through one slow hash verification and get the same answer, so
 * neither the reply nor its timing tells them apart. A user limited to some
 * networks is refused elsewhere with that same answer. A suspended user is
 * told so, but only with the right password: a wrong one is the same answer as
 * for everyone else.
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
  const standing = judgeStanding(user, request.clientAddress);
  if (standing.verdict === 'reject') return standing.reason === 'network' ? { ...INVALID, detail: 'network' } : standing;
  if (needsRehash) {
    await hashPassword(request.password)
      .then((hash) => store.replacePasswordHash(user.login, user.passwordHash, hash))
      .catch(() => undefined);
  }
  return standing;
}
