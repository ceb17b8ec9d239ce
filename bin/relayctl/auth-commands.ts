import { isIP } from 'node:net';
import { Command } from 'commander';
import type { LoginRefusal } from '../../lambda/authenticate.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { examples } from './help-text.ts';
import { passwordFromStdin } from './password-input.ts';

/** What the operator is told for each refusal (the client is told none of it). */
const REFUSALS: Readonly<Record<LoginRefusal, string>> = {
  'unknown-user': 'unknown user',
  'wrong-password': 'wrong password',
  disabled: 'the user is disabled (relayctl user enable)',
  network: 'not from an allowed network of the user',
  suspended: 'the user is suspended (relayctl user reinstate)',
};

/** The result of `auth test`, as printed; never the password. */
interface AuthTestResult {
  readonly login: string;
  readonly ok: boolean;
  readonly refusal?: LoginRefusal;
  readonly reason?: string;
  /** The user's allowed networks when --from was not given, so they were not checked. */
  readonly networksNotChecked?: readonly string[];
}

/** `relayctl auth test`: what `doveadm auth test` is to Dovecot. */
export function authCommand(): Command {
  const auth = new Command('auth').description('test logins as the relay judges them');
  auth
    .command('test')
    .description('test a login with its password (from stdin): ok, or why the relay would refuse it')
    .argument('<user>', 'the login, as the client sends it')
    .option('--from <ip>', "the client's IP address, to check the user's allowed networks too")
    .addHelpText(
      'after',
      `
The password is one line on standard input. Refusals: unknown user, wrong password,
disabled, not from an allowed network (with --from), suspended (with the reason). The verdict comes from the policy's own code
(lambda/authenticate.ts) on the store, so the test counts as a login there: a legacy
(imported) hash that matches is replaced by scrypt, as at a real login. A running relay's
AUTH penalties (per client address and login, kept in its memory) do not see it, so a test
neither locks a user out nor lifts a lock. Exit 0 when the login would be let in, 6 when
refused (the reason on stdout).
` +
        examples(
          "printf '%s\\n' \"$PASSWORD\" | relayctl auth test john@example.org",
          'relayctl auth test john@example.org --from 192.0.2.10 < password.txt',
          'relayctl --json auth test john@example.org < password.txt | jq -r .reason',
        ),
    )
    .action(async (login: string, options: { from?: string }, command: Command) => {
      const context = contextOf(command);
      if (options.from !== undefined && isIP(options.from) === 0) {
        throw new CliError(ExitCode.invalidInput, `invalid --from "${options.from}": give an IPv4 or IPv6 address`);
      }
      const password = await passwordFromStdin();
      const { judgeLogin } = await import('../../lambda/authenticate.ts');
      const result = await context.withStore(async (store): Promise<AuthTestResult> => {
        const judgement = await judgeLogin(store, login, password, options.from);
        if (judgement.verdict === 'reject') {
          const why = REFUSALS[judgement.refusal];
          return { login, ok: false, refusal: judgement.refusal, reason: judgement.refusal === 'suspended' ? `${why}: ${judgement.text}` : why };
        }
        const networks = judgement.user.settings.allowedNetworks ?? [];
        return { login: judgement.user.login, ok: true, ...(options.from === undefined && networks.length > 0 ? { networksNotChecked: networks } : {}) };
      });
      context.print(result, (view) => [
        view.ok ? `ok: ${view.login} would be let in` : `refused: ${view.reason}`,
        ...(view.networksNotChecked ? [`note: only from ${view.networksNotChecked.join(', ')}; give --from <ip> to check an address`] : []),
      ]);
      if (!result.ok) throw new CliError(ExitCode.authRefused, `login refused: ${result.reason}`);
    });
  return auth;
}
