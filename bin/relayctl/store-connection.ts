import { access, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createOwnerOnlyFiles } from '../../relay/private-path.ts';
import { UserStore } from '../../lambda/user-store.ts';
import { CliError, ExitCode } from './cli-error.ts';

/** Where the users table is: in AWS when a table is named, else the local store under the data dir. */
export interface StoreLocation {
  /** DynamoDB table in AWS (`--table` or `RELAY_TABLE`). */
  readonly table?: string;
  readonly region?: string;
  /** Another DynamoDB endpoint for `table` (a local stand-in); credentials still come from the AWS chain. */
  readonly dynamodbEndpoint?: string;
  /** The local stack's data dir (`RELAY_DATA_DIR`, default `.relay`). */
  readonly dataDir: string;
}

export interface StoreConnection {
  readonly store: UserStore;
  /** Where the store was found, for messages. */
  readonly description: string;
  close(): Promise<void>;
}

/** How long a command waits for other relayctl runs on the same data dir to finish. */
const LOCAL_STORE_WAIT_MS = 15_000;
const ENDPOINT_PROBE_TIMEOUT_MS = 1_000;
/** A lock file still empty after this long was left by a writer that died before writing its pid. */
const EMPTY_LOCK_GRACE_MS = 2_000;

/**
 * Opens the users table for the duration of one command. Against AWS this is
 * a client with the default credential chain and nothing is created (the CDK
 * stack owns the table). Locally, while `npm start` runs, its store is reached
 * through the endpoint it announces; otherwise relayctl opens the store files
 * itself, creating the table on first use, as `npm start` would.
 */
export async function openStore(location: StoreLocation): Promise<StoreConnection> {
  if (location.table) {
    const client = new DynamoDBClient({
      ...(location.region ? { region: location.region } : {}),
      ...(location.dynamodbEndpoint ? { endpoint: location.dynamodbEndpoint } : {}),
    });
    return {
      store: new UserStore(client, location.table),
      description: `table ${location.table}${location.dynamodbEndpoint ? ` at ${location.dynamodbEndpoint}` : ''}`,
      close: async () => client.destroy(),
    };
  }
  return openLocalStore(location.dataDir, { create: true });
}

/**
 * The local store of `dataDir`. With `create: false` a data dir that holds no
 * store yet is reported instead of being given one (`doctor` only looks).
 */
export async function openLocalStore(dataDir: string, options: { create: boolean }): Promise<StoreConnection> {
  // The store holds password hashes: whatever this run creates in it (the lock probe
  // below opens it too) is the owner's only, as the relay demands at start.
  createOwnerOnlyFiles();
  // Imported here so that commands against AWS never load the local stand-ins (dev dependencies).
  const embedded = await import('../../relay/local/embedded-dynamodb.ts');
  const storePath = path.join(dataDir, 'dynamodb');
  if (!options.create && !(await exists(storePath))) {
    throw new CliError(ExitCode.backendUnavailable, `no local store in ${dataDir} yet`);
  }
  const deadline = Date.now() + LOCAL_STORE_WAIT_MS;
  const unlock = await lockForRelayctl(dataDir, deadline);
  try {
    const connection = await connectLocal(embedded, dataDir, options.create, deadline);
    return {
      ...connection,
      async close() {
        try {
          await connection.close();
        } finally {
          await unlock();
        }
      },
    };
  } catch (error) {
    await unlock();
    throw error;
  }
}

async function connectLocal(
  { LOCAL_USERS_TABLE, localDynamoDbClient, runningEndpoint, startEmbeddedDynamoDb }: typeof import('../../relay/local/embedded-dynamodb.ts'),
  dataDir: string,
  create: boolean,
  deadline: number,
): Promise<StoreConnection> {
  const storePath = path.join(dataDir, 'dynamodb');
  for (;;) {
    const endpoint = await runningEndpoint(dataDir);
    // The endpoint file outlives a killed `npm start`: only a live listener counts.
    if (endpoint && (await isListening(endpoint))) {
      const client = localDynamoDbClient(endpoint);
      const store = new UserStore(client, LOCAL_USERS_TABLE);
      if (create) await (await import('../../relay/local/local-tables.ts')).ensureLocalTables(client);
      return { store, description: `local store of the running relay (${endpoint})`, close: async () => client.destroy() };
    }
    if (await isUnlocked(storePath)) {
      // An empty environment: fault injection armed for `npm start` (LOCAL_DYNAMODB_FAULT)
      // is for the relay, never for an operator's own command.
      const dynamo = await startEmbeddedDynamoDb(dataDir, '127.0.0.1', { env: {} });
      const client = localDynamoDbClient(dynamo.endpoint);
      const store = new UserStore(client, LOCAL_USERS_TABLE);
      const close = async () => {
        // The client's keep-alive sockets would hold the server's close for seconds.
        client.destroy();
        await dynamo.close();
      };
      try {
        if (create) await (await import('../../relay/local/local-tables.ts')).ensureLocalTables(client);
      } catch (error) {
        await close();
        throw error;
      }
      return { store, description: `local store in ${storePath}`, close };
    }
    if (Date.now() > deadline) {
      throw new CliError(
        ExitCode.backendUnavailable,
        `the local store in ${storePath} is locked by a process that announces no endpoint; stop it or try again`,
      );
    }
    await sleep(100);
  }
}

/**
 * Makes relayctl runs on one data dir take turns. Without it, two runs both
 * find the store free and both open it (the second one's dynalite then dies
 * on LevelDB's lock), or one uses the endpoint the other announces for its own
 * short-lived store and loses it mid-command. The lock is a file holding the
 * holder's pid, so a run killed midway leaves no lasting lock.
 */
async function lockForRelayctl(dataDir: string, deadline: number): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, 'relayctl.lock');
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(await readFile(lockPath, 'utf8').catch(() => ''));
    const stale = holder > 0 ? !isAlive(holder) : await olderThan(lockPath, EMPTY_LOCK_GRACE_MS);
    if (stale) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new CliError(ExitCode.backendUnavailable, `another relayctl (pid ${holder || 'unknown'}) is using the local store in ${dataDir}; try again when it is done`);
    }
    await sleep(50 + Math.random() * 50);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > ms;
}

/**
 * Whether no other process holds the store's LevelDB lock: an `npm start`
 * that has opened the store but not yet announced its endpoint, say. dynalite
 * throws from inside a request handler when the store is locked, which would
 * crash relayctl with a stack trace; asking first turns it into a short wait.
 */
async function isUnlocked(storePath: string): Promise<boolean> {
  const { Level } = await import('level');
  const db = new Level(storePath);
  try {
    await db.open();
    return true;
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') return false;
    throw error;
  } finally {
    await db.close();
  }
}

function isListening(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    const done = (listening: boolean) => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(ENDPOINT_PROBE_TIMEOUT_MS, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
