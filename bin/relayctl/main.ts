/**
 * relayctl: the operator's tool for the relay's users, their sender grants and
 * settings, migrations from Dovecot/ISPmail, and deployment checks.
 *
 * SECURITY: the only writer of credentials (IAM gives no other principal write
 * access to the users table). It runs with the operator's own AWS credentials
 * (default chain) or on the local store. It prints no password except one it
 * generated, once, and never a password hash; passwords come from stdin, never
 * from arguments (which the process list shows). Imported legacy hashes are
 * stored as they are and never printed.
 * STANDARDS: Dovecot passwd-file format; mysqldump SQL (INSERT statements);
 * CIDR notation (RFC 4632, RFC 4291 2.3); exit codes below, 70 from sysexits(3).
 */
import { Command, CommanderError } from 'commander';
import { ExposedSecretError } from '../../relay/private-path.ts';
import { authCommand } from './auth-commands.ts';
import { CliError, ExitCode, type ExitCodeValue } from './cli-error.ts';
import { configCommand } from './config-command.ts';
import { doctorCommand } from './doctor-command.ts';
import { importCommand } from './import-commands.ts';
import { messageCommand, reputationCommand } from './reputation-commands.ts';
import { initCommand } from './init-command.ts';
import { senderCommand } from './sender-commands.ts';
import { userCommand } from './user-commands.ts';
import { whoCommand } from './who-command.ts';

const EXIT_CODES_HELP = `
Where the store is:
  Without --table (or RELAY_TABLE), relayctl works on the local store of RELAY_DATA_DIR
  (default .relay in the project root, whatever folder relayctl is run from): through the
  running \`npm start\` when there is one, else by opening the store itself. No command but
  \`relayctl init\` creates a store that is not there. With --table it uses that DynamoDB
  table in AWS, with the standard AWS credential chain (--profile or AWS_PROFILE,
  environment, SSO, instance role) and --region or AWS_REGION.

Exit codes:
  0   done
  1   bad usage or invalid input (address, network, tag, weak password, file, a setting);
      a change that needs confirming, without --yes where there is no terminal to ask on;
      for who: nobody may send as the address
  2   not found (no such user, or the address was never granted to that user)
  3   conflict (exists already, or another user owns the address); for imports: some entries conflicted
  4   the store or SES could not be reached or used (no local store, endpoint down, table
      missing, no credentials)
  5   doctor: at least one check failed
  6   auth test: the relay would refuse that login
  7   not confirmed: the answer to a confirmation question was not yes
  70  internal error (a bug: please report it)

Errors are one line on stderr; results go to stdout (--json: one JSON document).
`;

function relayctlProgram(): Command {
  const program = new Command('relayctl')
    .description('Manage the submission relay: users, sender grants, settings, imports, and deployment checks.')
    .option('--json', 'print the result as one JSON document (for scripts)')
    .option('--table <name>', 'DynamoDB users table in AWS (default: $RELAY_TABLE; without either: the local store)')
    .option('--region <region>', 'AWS region of the table (default: the AWS chain, e.g. $AWS_REGION)')
    .option('--profile <name>', 'AWS profile for --table (default: the AWS chain, e.g. $AWS_PROFILE)')
    .option('--stage <name>', 'deployment stage in cdk.json: the configuration sets a user may have (default: dev), the settings config shows')
    .option('--dynamodb-endpoint <url>', 'DynamoDB endpoint for --table (a local stand-in, a VPC endpoint)')
    .option('--reputation-table <name>', 'DynamoDB reputation table in AWS, with --table (default: $RELAY_REPUTATION_TABLE)')
    .addHelpText('after', EXIT_CODES_HELP);
  for (const group of [initCommand(), userCommand(), senderCommand(), whoCommand(), authCommand(), configCommand(), reputationCommand(), messageCommand(), importCommand(), doctorCommand()]) program.addCommand(group);
  // addCommand() takes a command as it was built; give every level the program's behaviour.
  const configure = (command: Command) => {
    command
      .exitOverride()
      .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
      // commander says "error: ..."; every line relayctl writes to stderr starts alike.
      .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'relayctl: ')) });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

async function run(argv: readonly string[]): Promise<ExitCodeValue> {
  try {
    await relayctlProgram().parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    // commander has printed its own one-line message (or the help) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.invalidInput;
    const known = error instanceof CliError ? error : backendError(error);
    const message = known ? known.message : `internal error: ${error instanceof Error ? error.message : String(error)}`;
    // One line, whatever a library put in its message: scripts read stderr line by line.
    process.stderr.write(`relayctl: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return known ? known.exitCode : ExitCode.internal;
  }
}

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Failures of the store's backend (AWS or the local stand-in), as exit code 4 with what to look at. */
function backendError(error: unknown): CliError | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: string }).code;
  const unavailable = (message: string) => new CliError(ExitCode.backendUnavailable, message);
  // The local store open to others: its message names the file and the chmod that fixes it.
  if (error instanceof ExposedSecretError) return unavailable(error.message);
  if (error.name === 'ResourceNotFoundException') return unavailable(`the users table was not found: ${error.message} (check --table and --region)`);
  if (error.name === 'CredentialsProviderError') return unavailable(`no AWS credentials: ${error.message} (give --profile or set AWS_PROFILE, or log in with aws sso login)`);
  if (error.message === 'Region is missing') return unavailable('no AWS region: give --region or set AWS_REGION');
  if ((code && NETWORK_ERROR_CODES.has(code)) || error.name === 'TimeoutError') return unavailable(`the store could not be reached: ${error.message}`);
  if ('$metadata' in error) return unavailable(`the store refused the request: ${error.name}: ${error.message}`);
  return undefined;
}

// A reader that stops early (`relayctl user list | head -1`) is no failure of ours: end quietly
// instead of dying on EPIPE with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? ExitCode.ok);
});

process.exitCode = await run(process.argv);
