import { access } from 'node:fs/promises';
import path from 'node:path';
import { Command } from 'commander';
import { CliError, ExitCode } from './cli-error.ts';
import { contextOf } from './command-context.ts';
import { examples } from './help-text.ts';

/**
 * `relayctl init`: the one command that makes a local store (the other is
 * `npm start`). Every other command reports a missing store instead, so that
 * a wrong folder or a typo in RELAY_DATA_DIR never yields a fresh, empty one.
 */
export function initCommand(): Command {
  return new Command('init')
    .description('create the local store (data dir and tables) before the relay first starts; nothing is changed if it exists')
    .addHelpText(
      'after',
      `
The data dir is RELAY_DATA_DIR, else .relay in the project root (a relative RELAY_DATA_DIR
is taken from the project root too, as npm start takes it). In AWS the CDK stack creates
the tables: init does not take --table.
` + examples('relayctl init', 'RELAY_DATA_DIR=/srv/relay-test relayctl init'),
    )
    .action(async (_options: object, command: Command) => {
      const context = contextOf(command);
      const { dataDir, table } = context.location;
      if (table) throw new CliError(ExitCode.invalidInput, 'init creates the local store only; in AWS the CDK stack creates the table (npx cdk deploy)');
      const existed = await access(path.join(dataDir, 'dynamodb')).then(() => true, () => false);
      const { openLocalStore } = await import('./store-connection.ts');
      await (await openLocalStore(dataDir, { create: true })).close();
      context.print({ dataDir, created: !existed }, () => [existed ? `the local store in ${dataDir} exists already` : `created the local store in ${dataDir}`]);
    });
}
