import type { ConfirmSessionDecision, ConfirmSessionRequest } from './policy-contract.ts';
import { judgeStanding, passwordSetAtOf } from './user-standing.ts';
import type { UserStore } from './user-store.ts';

/**
 * Decides whether an open session may go on after its user changed: what
 * `authenticate` would decide now, without the password, which the relay does
 * not keep. The password the session logged in with is known by the stamp of
 * when it was set; a new one set by an operator since ends the session.
 */
export async function confirmSession(store: UserStore, request: ConfirmSessionRequest): Promise<ConfirmSessionDecision> {
  const user = await store.getUser(request.login);
  if (!user) return { verdict: 'reject', reason: 'removed' };
  if (user.disabled) return { verdict: 'reject', reason: 'disabled' };
  if (passwordSetAtOf(user) !== request.passwordSetAt) return { verdict: 'reject', reason: 'password-changed' };
  return judgeStanding(user, request.clientAddress);
}
