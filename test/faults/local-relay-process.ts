import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashPassword } from '../../lambda/password-hash.ts';
import { canonicalGrant } from '../../lambda/mail-address.ts';
import { UserStore } from '../../lambda/user-store.ts';
import { LOCAL_USERS_TABLE, localDynamoDbClient } from '../../relay/local/embedded-dynamodb.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `npm start` (relay/local/start.ts) as a child process in a fresh data dir, on
 * free ports, with its stdout (the JSON log) and stderr captured: what a person
 * trying the relay runs, stopped the way ECS stops a task.
 */
export interface LocalRelayProcess {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly submissionPort: number;
  readonly submissionsPort: number;
  readonly sesUrl: string;
  readonly dynamoEndpoint: string;
  readonly outboxDir: string;
  /** Everything the process wrote to stdout (the relay's JSON log). */
  stdout(): string;
  stderr(): string;
  /** The stdout lines that are JSON, parsed. */
  logLines(): Array<Record<string, unknown>>;
  addUser(login: string, password: string, grants?: readonly string[]): Promise<void>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(): Promise<number | string>;
  /** Kills it if still running, and removes the data dir. */
  dispose(): Promise<void>;
}

export async function startLocalRelayProcess(env: Record<string, string> = {}): Promise<LocalRelayProcess> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'relay-process-'));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'relay/local/start.ts')], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? tmpdir(),
      RELAY_DATA_DIR: dataDir,
      RELAY_LISTEN: '127.0.0.1',
      SUBMISSION_PORT: '0',
      SUBMISSIONS_PORT: '0',
      RELAY_HOSTNAME: 'relay.test',
      NODE_NO_WARNINGS: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));

  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no banner within 30 s; stderr:\n${stderr}`)), 30_000);
    const check = (): void => {
      if (stderr.includes('Ctrl-C stops it.')) {
        clearTimeout(timer);
        resolve(stderr);
      }
    };
    child.stderr!.on('data', check);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${code}) before it was ready; stderr:\n${stderr}`));
    });
  });
  // start.ts prints its addresses on stderr, one per line (see its banner).
  const field = (pattern: RegExp): string => {
    const match = pattern.exec(banner);
    if (!match?.[1]) throw new Error(`no ${pattern.source} in the banner:\n${banner}`);
    return match[1];
  };
  const submissionPort = Number(field(/submission +\(STARTTLS\) +smtp:\/\/[^:\s]+:(\d+)/));
  const submissionsPort = Number(field(/submissions \(implicit TLS\) +smtps:\/\/[^:\s]+:(\d+)/));
  const sesUrl = field(/SES v2 endpoint +(http:\/\/\S+)/);
  const outboxDir = field(/outbox \(what SES accepted\) +(\S+)/);
  // A relay started on another one's DynamoDB (RELAY_DYNAMODB_ENDPOINT) announces no endpoint of its own.
  const dynamoEndpoint = env.RELAY_DYNAMODB_ENDPOINT ?? (await readFile(path.join(dataDir, 'dynamodb.endpoint'), 'utf8')).trim();

  return {
    child,
    dataDir,
    submissionPort,
    submissionsPort,
    sesUrl,
    dynamoEndpoint,
    outboxDir,
    stdout: () => stdout,
    stderr: () => stderr,
    logLines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async addUser(login, password, grants = []) {
      const store = new UserStore(localDynamoDbClient(dynamoEndpoint), LOCAL_USERS_TABLE);
      await store.createUser(login, await hashPassword(password));
      for (const grant of grants) {
        await store.putSender({ grant: canonicalGrant(grant) ?? grant, owner: login, createdAt: new Date().toISOString() });
      }
    },
    exited: () => exit,
    async dispose() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
