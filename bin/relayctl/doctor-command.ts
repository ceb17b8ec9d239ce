import { Command } from 'commander';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import type { CheckResult } from './doctor-check.ts';
import { examples } from './help-text.ts';
import { repeatable } from './repeatable-option.ts';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check what the deployment needs and say what to fix (local stack by default; AWS with --table)')
    .option('--ses-region <region>', 'SES region (default: --region, then the AWS chain)')
    .option('--ses-endpoint <url>', 'SES endpoint (a local stand-in)')
    .option('--identity <domain>', 'SES identity the relay sends as: check it is verified and DKIM works (repeatable)', repeatable)
    .option('--certificate-host <host[:port]>', 'check the certificate the relay serves there (port 465 by default)')
    .option('--policy-concurrency <n>', 'reserved concurrency the stage gives the policy function: check the account\'s Lambda quota leaves room for it', (value: string) => {
      if (!/^[1-9]\d{0,5}$/.test(value)) throw new CliError(ExitCode.invalidInput, `--policy-concurrency must be a positive whole number, not "${value}"`);
      return Number(value);
    })
    .option('--lambda-endpoint <url>', 'Lambda endpoint (a local stand-in)')
    .addHelpText(
      'after',
      `
Locally it checks the data dir (RELAY_DATA_DIR), the store and its table, the TLS certificate
(expiry, 21 days' warning) and key (owner-only, matching), and that both relay ports greet
(SUBMISSION_PORT, SUBMISSIONS_PORT; defaults 2587, 2465). With --table it checks the table in
AWS, the SES account (sending enabled, sandbox, quota), each --identity (verified, DKIM) and
the served certificate, and with --policy-concurrency that the account's Lambda concurrency
quota leaves room for that reservation (new accounts may have 10). One line per check: ok, warn or fail, with what to do. Exit code 5
when a check fails (warnings alone exit 0).
` +
        examples(
          'relayctl doctor',
          'relayctl doctor --table relay-users --region eu-west-1 --identity example.org --certificate-host smtp.example.org',
          'relayctl doctor --table relay-users --region eu-west-1 --policy-concurrency 96',
          'relayctl --json doctor | jq -r \'.checks[] | select(.status != "ok") | .check\'',
        ),
    )
    .action(async (options: { sesRegion?: string; sesEndpoint?: string; identity?: string[]; certificateHost?: string; policyConcurrency?: number; lambdaEndpoint?: string }, command: Command) => {
      const context = contextOf(command);
      const { location } = context;
      // Loaded on use: the SES client is the heaviest module relayctl has, and only this needs it.
      const checks = location.table
        ? await (await import('./aws-deployment-checks.ts')).checkAwsDeployment({
            table: location.table,
            identities: options.identity ?? [],
            ...(location.region ? { region: location.region } : {}),
            ...(location.profile ? { profile: location.profile } : {}),
            ...(location.dynamodbEndpoint ? { dynamodbEndpoint: location.dynamodbEndpoint } : {}),
            ...(options.sesRegion ? { sesRegion: options.sesRegion } : {}),
            ...(options.sesEndpoint ? { sesEndpoint: options.sesEndpoint } : {}),
            ...(options.certificateHost ? { certificateHost: options.certificateHost } : {}),
            ...(options.policyConcurrency ? { policyReservedConcurrency: options.policyConcurrency } : {}),
            ...(options.lambdaEndpoint ? { lambdaEndpoint: options.lambdaEndpoint } : {}),
          })
        : await (await import('./local-deployment-checks.ts')).checkLocalDeployment(location.dataDir, process.env);
      const failed = checks.filter((check) => check.status === 'fail').length;
      const warned = checks.filter((check) => check.status === 'warn').length;
      context.print({ ok: failed === 0, checks }, (report) => [
        ...report.checks.map(describeCheck),
        failed + warned === 0 ? 'all checks passed' : `${failed} failed, ${warned} warning${warned === 1 ? '' : 's'}`,
      ]);
      if (failed > 0) throw new CliError(ExitCode.checksFailed, `${failed} check${failed === 1 ? '' : 's'} failed`);
    });
}

function describeCheck(result: CheckResult): string {
  return `${result.status.padEnd(4)}  ${result.check}: ${result.message}${result.fix ? ` -- fix: ${result.fix}` : ''}`;
}
