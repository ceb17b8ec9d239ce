import type { AuthenticateDecision, AuthenticateRequest, UserProfile } from './policy-contract.ts';
import { parseMailAddress } from './mail-address.ts';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './password-hash.ts';
import { judgeStanding } from './user-standing.ts';
import type { UserRecord, UserStore } from './user-store.ts';

const INVALID = { verdict: 'reject', reason: 'invalid-credentials' } as const satisfies AuthenticateDecision;

/**
 * Why a login is refused. For the log and the operator (`relayctl auth test`);
 * the client learns only of a suspension (see `authenticate`).
 */
export type LoginRefusal = 'unknown-user' | 'wrong-password' | 'disabled' | 'network' | 'suspended';

export type LoginJudgement =
  | { readonly verdict: 'permit'; readonly user: UserRecord; readonly profile: UserProfile }
  | { readonly verdict: 'reject'; readonly refusal: Exclude<LoginRefusal, 'suspended'> }
  /** `text`: the restriction's reason, as the reputation guard or an operator set it. */
  | { readonly verdict: 'reject'; readonly refusal: 'suspended'; readonly text: string };

/**
 * Judges a login with its password. Unknown users, disabled users and wrong
 * passwords take the same path through one slow hash verification, so that
 * the timing tells them apart no more than `authenticate`'s answer does. The
 * user's standing (allowed networks, suspension) is judged only with the right
 * password; the networks only when a client address is given (a login over
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
  const standing = judgeStanding(user, clientAddress);
  if (standing.verdict === 'reject') {
    return standing.reason === 'network' ? { verdict: 'reject', refusal: 'network' } : { verdict: 'reject', refusal: 'suspended', text: standing.text };
  }
  if (needsRehash) {
    await hashPassword(password)
      .then((hash) => store.replacePasswordHash(user.login, user.passwordHash, hash))
      .catch(() => undefined);
  }
  return { verdict: 'permit', user, profile: standing.user };
}

/**
 * Decides an AUTH. Unknown users, disabled users, wrong passwords and users
 * outside their allowed networks all get one answer, so that neither the
 * reply nor its timing tells them apart (the log learns of the network). A
 * suspended user is told so, but only with the right password: a wrong one is
 * the same answer as for everyone else.
 */
export async function authenticate(store: UserStore, request: AuthenticateRequest): Promise<AuthenticateDecision> {
  const judgement = await judgeLogin(store, request.login, request.password, request.clientAddress);
  if (judgement.verdict === 'permit') return { verdict: 'permit', user: judgement.profile };
  if (judgement.refusal === 'suspended') return { verdict: 'reject', reason: 'suspended', text: judgement.text };
  return judgement.refusal === 'network' ? { ...INVALID, detail: 'network' } : INVALID;
}
