import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A MariaDB server of its own for one test file (Debian `mariadb-server`,
 * `mariadb-client`): a fresh datadir under `dir`, reached through a socket
 * there only (no TCP), run as the current user (root too: `--user` names the
 * account it already runs as), so the dumps tests read are made by the real
 * `mysqldump`. `stop()` always ends it.
 */
export interface ThrowawayMariaDb {
  /** Runs SQL with the `mariadb` client as root. */
  sql(statements: string, database?: string): Promise<string>;
  /** `mysqldump` of `tables` of `database`, with extra options, as the tool writes it. */
  dump(database: string, tables: readonly string[], options?: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

/** The commands used here, with their Debian packages, for the tests' skip check (test/support/required-tools.ts). */
export const MARIADB_TOOLS = {
  'mariadb-install-db': 'mariadb-server',
  mariadbd: 'mariadb-server',
  'mariadb-admin': 'mariadb-client',
  mariadb: 'mariadb-client',
  mysqldump: 'mariadb-client',
};

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const TOOL_TIMEOUT_MS = 20_000;

export async function startThrowawayMariaDb(dir: string): Promise<ThrowawayMariaDb> {
  const dataDir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const errorLog = path.join(dir, 'error.log');
  const user = userInfo().username;
  await run('mariadb-install-db', [
    '--no-defaults', `--datadir=${dataDir}`, `--user=${user}`,
    '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve',
  ]);
  const server: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults', `--datadir=${dataDir}`, `--socket=${socket}`, '--skip-networking', `--user=${user}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`, `--log-error=${errorLog}`,
      '--innodb-buffer-pool-size=16M', '--skip-log-bin', '--skip-name-resolve',
    ],
    { stdio: 'ignore' },
  );
  const exited = once(server, 'exit');
  const client = ['--no-defaults', `--socket=${socket}`, '--user=root'];

  const stop = async () => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (server.exitCode !== null) {
      throw new Error(`mariadbd exited with ${server.exitCode}: ${await readFile(errorLog, 'utf8').catch(() => '')}`);
    }
    const ready = await run('mariadb-admin', [...client, 'ping']).then(() => true, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mariadbd did not answer within ${START_TIMEOUT_MS / 1000} s: ${await readFile(errorLog, 'utf8').catch(() => '')}`);
    }
    await sleep(100);
  }

  return {
    sql: (statements, database) => run('mariadb', [...client, ...(database ? [database] : [])], statements),
    dump: (database, tables, options = []) => run('mysqldump', [...client, ...options, database, ...tables]),
    stop,
  };
}

function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: TOOL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
    // mariadb-admin and mysqldump never read stdin, and may be gone before it is closed.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}
