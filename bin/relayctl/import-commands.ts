import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { Command } from 'commander';
import { canonicalDomain } from '../../lambda/mail-address.ts';
import { applyImportPlan, type ImportEntry, type ImportStatus } from './apply-import-plan.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf, type CommandContext } from './command-context.ts';
import { planDovecotImport } from './dovecot-passwd-file.ts';
import { examples } from './help-text.ts';
import type { ImportSource, PlanEntry } from './import-plan.ts';
import { importProgress } from './import-progress.ts';
import { readMysqlDump } from './mysql-dump.ts';

/** An import's result, as `--json` prints it. */
interface ImportReport {
  readonly source: ImportSource;
  readonly file: string;
  readonly dryRun: boolean;
  readonly counts: Readonly<Record<ImportStatus, number>>;
  readonly entries: readonly ImportEntry[];
}

/** The tables of the ISPmail guide's `mailserver` database. */
const ISPMAIL_TABLES = ['virtual_domains', 'virtual_users', 'virtual_aliases'] as const;

const REPORT_HELP = `
The report lists every entry with its status: imported (would-import with --dry-run),
exists (already in the store: a re-run changes nothing), skipped (with the reason), or
conflict (the store gives the address to someone else; left as it is). Imported users
keep their hash ({SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {ARGON2ID}); the relay
verifies it and replaces it with its own at the user's next login. Users with other
schemes are skipped: give them a password with relayctl user add. Exit code 3 when
some entry conflicts, else 0.
`;

export function importCommand(): Command {
  const group = new Command('import').description('bring users, aliases and domains over from Dovecot or an ISPmail database');

  group
    .command('dovecot')
    .description('import the users of a Dovecot passwd-file (user:{SCHEME}hash:uid:gid::home::extra)')
    .argument('<passwd-file>', "the file, or - for standard input")
    .option('--domain <domain>', 'domain for user names without one (a passwd-file per domain)')
    .option('--dry-run', 'only report what would be imported; change nothing')
    .addHelpText(
      'after',
      REPORT_HELP +
        examples(
          'relayctl import dovecot /etc/dovecot/users --dry-run',
          'relayctl import dovecot /etc/dovecot/users',
          'relayctl import dovecot /etc/dovecot/passwd.example.org --domain example.org',
        ),
    )
    .action(async (file: string, options: { domain?: string; dryRun?: boolean }, command: Command) => {
      const context = contextOf(command);
      const domain = options.domain === undefined ? undefined : canonicalDomain(options.domain.replace(/^@/, ''));
      if (options.domain !== undefined && (domain === undefined || !domain.includes('.'))) {
        throw new CliError(ExitCode.invalidInput, `invalid --domain "${options.domain}"`);
      }
      const plan = planDovecotImport(await readSource(file), domain);
      await runImport(context, { source: 'dovecot', file, dryRun: options.dryRun === true }, plan);
    });

  group
    .command('ispmail')
    .description(`import an ISPmail database from its mysqldump (${ISPMAIL_TABLES.join(', ')})`)
    .argument('<dump.sql>', 'the dump, or - for standard input')
    .option('--dry-run', 'only report what would be imported; change nothing')
    .addHelpText(
      'after',
      REPORT_HELP +
        `
Aliases become sender aliases when their one destination is a user of the dump (or an
alias that leads to one); a catch-all @domain to one user becomes a grant of the domain.
Forwarders to other servers and aliases with several destinations are skipped.
` +
        examples(
          `mysqldump mailserver ${ISPMAIL_TABLES.join(' ')} > ispmail.sql`,
          'relayctl import ispmail ispmail.sql --dry-run',
          `mysqldump mailserver ${ISPMAIL_TABLES.join(' ')} | relayctl --json import ispmail -`,
        ),
    )
    .action(async (file: string, options: { dryRun?: boolean }, command: Command) => {
      const context = contextOf(command);
      const source = file === '-' ? 'standard input' : file;
      const tables = readMysqlDump(await readSource(file), ISPMAIL_TABLES, source);
      if (!tables.has('virtual_users')) {
        throw new CliError(ExitCode.invalidInput, `${source} holds no virtual_users table; dump it with: mysqldump mailserver ${ISPMAIL_TABLES.join(' ')}`);
      }
      // Loaded on use: it follows alias chains as deep as the store module allows, and that module loads the AWS SDK.
      const { planIspmailImport } = await import('./ispmail-dump.ts');
      const plan = planIspmailImport(tables, source);
      await runImport(context, { source: 'ispmail', file, dryRun: options.dryRun === true }, plan);
    });

  return group;
}

async function readSource(file: string): Promise<string> {
  if (file === '-') return text(process.stdin);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(ExitCode.invalidInput, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

async function runImport(
  context: CommandContext,
  about: { readonly source: ImportSource; readonly file: string; readonly dryRun: boolean },
  plan: readonly PlanEntry[],
): Promise<void> {
  const progress = importProgress(plan.length);
  let entries: ImportEntry[];
  try {
    entries = await context.withStore((store) => applyImportPlan(store, plan, { dryRun: about.dryRun, onEntry: progress.tick }));
  } finally {
    progress.stop();
  }
  const counts: Record<ImportStatus, number> = { imported: 0, 'would-import': 0, exists: 0, skipped: 0, conflict: 0 };
  for (const entry of entries) counts[entry.status] += 1;
  const report: ImportReport = { ...about, counts, entries };
  context.print(report, humanReport);
  if (counts.conflict > 0) {
    throw new CliError(ExitCode.conflict, `${counts.conflict} entr${counts.conflict === 1 ? 'y conflicts' : 'ies conflict'} with the store; see the report`);
  }
}

function humanReport(report: ImportReport): string[] {
  const lines = report.entries.map((entry) => {
    const what = `${entry.address}${entry.target !== undefined ? ` -> ${entry.target}` : ''}${entry.scheme !== undefined ? ` (${entry.scheme})` : ''}`;
    return `${entry.status.padEnd(12)} ${entry.kind.padEnd(12)} ${what}${entry.reason !== undefined ? `: ${entry.reason}` : ''}  [${entry.origin}]`;
  });
  const { counts } = report;
  const done = report.dryRun ? `would import ${counts['would-import']} (dry run: nothing written)` : `imported ${counts.imported}`;
  return [...lines, `${done}, exists ${counts.exists}, skipped ${counts.skipped}, conflicts ${counts.conflict}`];
}
