import type { UserChangeKind, UserStore } from '../../lambda/user-store.ts';
import { CliError, ExitCode } from './cli-error.ts';

/**
 * Tells running relays, through the users table's change feed, that `login`
 * changed: every task applies it within its REVOCATION_BOUND_SECONDS, open
 * sessions included. Called after the change itself was written; if only the
 * announcement fails, the operator is told what that means and to run the
 * command again (announcing twice does no harm).
 */
export async function announceChange(store: UserStore, login: string, kind: UserChangeKind): Promise<void> {
  try {
    await store.announceChange(login, kind);
  } catch (error) {
    throw new CliError(
      ExitCode.backendUnavailable,
      `the change of ${login} was saved but not announced to running relays (${error instanceof Error ? error.message : String(error)}): ` +
        'new logins see it within POLICY_CACHE_SECONDS, open sessions may not; run the command again',
    );
  }
}
