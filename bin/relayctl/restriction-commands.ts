import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { loginArgument } from './address-argument.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { REVOCATION_NOTE, examples } from './help-text.ts';
import { refusedAs } from './store-refusal.ts';

/** Reasons are shown to the user in an SMTP reply and to operators: one line of plain text. */
const REASON = /^[^\p{Cc}]{1,200}$/u;

const WHO_NOTE = `
The operator recorded is --by, else $RELAYCTL_OPERATOR, else $USER@<host>. Against AWS,
CloudTrail records the principal of the write as well.
`;

/**
 * `user suspend` and `user reinstate`: the operator's side of the reputation
 * guard. A suspended user is refused at AUTH (right password only) and at
 * MAIL with `550 5.7.1`, the reason and whom to ask, on every relay within
 * seconds; reinstating clears it and keeps who did it and why.
 */
export function addRestrictionCommands(user: Command): void {
  user
    .command('suspend')
    .description('stop a user sending: AUTH and MAIL get 550 5.7.1 with the reason (the user sees it) until reinstated')
    .argument('<address>', 'the login')
    .requiredOption('--reason <text>', 'why, in words the user may read (up to 200 characters)')
    .option('--by <name>', 'who decides (default: $RELAYCTL_OPERATOR or $USER@host)')
    .addHelpText('after', REVOCATION_NOTE + WHO_NOTE + examples('relayctl user suspend john@example.org --reason "complaint rate 0.3 % this week; list under review"'))
    .action(async (address: string, options: { reason: string; by?: string }, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      const reason = checkedReason(options.reason);
      const restriction = { state: 'suspended' as const, reason, since: new Date().toISOString(), by: operatorOf(options.by) };
      await context.withStore((store) => refusedAs(store.restrictUser(login, restriction), ExitCode.notFound, `no user ${login}`));
      context.print({ login, restriction }, () => [`suspended ${login}: ${reason}`]);
    });

  user
    .command('reinstate')
    .description('clear a suspension, throttle or warning; records who and why')
    .argument('<address>', 'the login')
    .requiredOption('--reason <text>', 'why the user may send again (kept in the history)')
    .option('--by <name>', 'who decides (default: $RELAYCTL_OPERATOR or $USER@host)')
    .addHelpText('after', WHO_NOTE + examples('relayctl user reinstate john@example.org --reason "bounced addresses removed from the list"'))
    .action(async (address: string, options: { reason: string; by?: string }, command: Command) => {
      const context = contextOf(command);
      const login = loginArgument(address);
      const reason = checkedReason(options.reason);
      const by = operatorOf(options.by);
      await context.withStore(async (store) => {
        if (!(await store.getUser(login))) throw new CliError(ExitCode.notFound, `no user ${login}`);
        await refusedAs(store.reinstateUser(login, by, reason), ExitCode.conflict, `${login} is not restricted`);
      });
      context.print({ login, reinstated: true, by, reason }, () => [`reinstated ${login}`]);
    });
}

function checkedReason(text: string): string {
  const reason = text.trim();
  if (!REASON.test(reason)) throw new CliError(ExitCode.invalidInput, 'invalid --reason: give 1 to 200 characters on one line');
  return reason;
}

function operatorOf(by: string | undefined): string {
  const named = by ?? process.env.RELAYCTL_OPERATOR;
  if (named !== undefined) {
    if (!REASON.test(named.trim())) throw new CliError(ExitCode.invalidInput, 'invalid --by: give 1 to 200 characters on one line');
    return named.trim();
  }
  return `${process.env.USER || userInfo().username}@${hostname()}`;
}
