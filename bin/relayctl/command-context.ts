import type { Command } from 'commander';
import type { ReputationStore } from '../../lambda/reputation-store.ts';
import type { UserStore } from '../../lambda/user-store.ts';
import { CliError, ExitCode } from './cli-error.ts';
import { localDataDir } from '../../relay/local/local-data-dir.ts';
import type { StoreLocation } from './store-connection.ts';

/** The options every command takes (declared once, on the program). */
export interface GlobalOptions {
  readonly json?: boolean;
  readonly table?: string;
  readonly region?: string;
  readonly profile?: string;
  readonly dynamodbEndpoint?: string;
  readonly reputationTable?: string;
  readonly stage?: string;
}

/**
 * What a command's action needs besides its own arguments: how to print its
 * result and how to reach the store.
 */
export interface CommandContext {
  readonly json: boolean;
  readonly location: StoreLocation;
  /** The deployment stage (cdk.json) the store belongs to, when given (`--stage`). */
  readonly stage: string | undefined;
  /**
   * Prints a command's result: as one JSON document with `--json`, else as the
   * lines `human` makes of it. Results never hold a password hash; the only
   * secret ever printed is a password relayctl generated, once.
   */
  print<T>(result: T, human: (result: T) => readonly string[]): void;
  /** Runs `work` with the store open, and closes it whatever happens. */
  withStore<T>(work: (store: UserStore) => Promise<T>): Promise<T>;
  /**
   * Like `withStore`, with the reputation table too: always there locally, and
   * in AWS when named (`--reputation-table`); `required` refuses to go on without it.
   */
  withReputation<T>(work: (store: UserStore, reputation: ReputationStore | undefined) => Promise<T>, options?: { required: boolean }): Promise<T>;
}

export function contextOf(command: Command, env: NodeJS.ProcessEnv = process.env): CommandContext {
  const options = command.optsWithGlobals<GlobalOptions>();
  const json = options.json === true;
  const table = options.table ?? (env.RELAY_TABLE || undefined);
  const reputationTable = options.reputationTable ?? (env.RELAY_REPUTATION_TABLE || undefined);
  const location: StoreLocation = {
    dataDir: localDataDir(env),
    ...(table ? { table } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.dynamodbEndpoint ? { dynamodbEndpoint: options.dynamodbEndpoint } : {}),
    ...(reputationTable ? { reputationTable } : {}),
  };
  const withConnection = async <T>(work: (connection: import('./store-connection.ts').StoreConnection) => Promise<T>): Promise<T> => {
    // Loaded on use: the AWS SDK is most of relayctl's start-up, and `--help`
    // and refused input never reach the store.
    const { openStore } = await import('./store-connection.ts');
    const connection = await openStore(location);
    try {
      return await work(connection);
    } finally {
      await connection.close();
    }
  };
  return {
    json,
    location,
    stage: options.stage,
    print(result, human) {
      const text = json ? JSON.stringify(result, null, 2) : human(result).join('\n');
      if (text) process.stdout.write(`${text}\n`);
    },
    withStore: (work) => withConnection((connection) => work(connection.store)),
    withReputation: (work, { required } = { required: false }) =>
      withConnection((connection) => {
        if (required && !connection.reputation) {
          throw new CliError(ExitCode.invalidInput, 'name the reputation table too: --reputation-table <name> or RELAY_REPUTATION_TABLE (the data stack output ReputationTableName)');
        }
        return work(connection.store, connection.reputation);
      }),
  };
}
