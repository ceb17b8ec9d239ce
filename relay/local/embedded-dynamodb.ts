import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

/** Names the local stack uses for its tables; in AWS the CDK stack names them. */
export const LOCAL_USERS_TABLE = 'relay-users';
export const LOCAL_COUNTERS_TABLE = 'relay-counters';

export interface EmbeddedDynamoDb {
  readonly endpoint: string;
  close(): Promise<void>;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/**
 * A DynamoDB-compatible server (dynalite) on loopback, its data kept under
 * `<dataDir>/dynamodb` so users survive a restart. Only one process may open
 * that store, so while it runs its address is written to
 * `<dataDir>/dynamodb.endpoint`, where `relayctl` finds it.
 */
export async function startEmbeddedDynamoDb(dataDir: string | undefined, host = '127.0.0.1'): Promise<EmbeddedDynamoDb> {
  const storePath = dataDir ? path.join(dataDir, 'dynamodb') : undefined;
  if (storePath) await mkdir(storePath, { recursive: true });
  const server: Server = dynalite({ ...(storePath ? { path: storePath } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const endpoint = `http://${host}:${(server.address() as AddressInfo).port}`;
  const endpointFile = dataDir ? endpointFileOf(dataDir) : undefined;
  if (endpointFile) await writeFile(endpointFile, `${endpoint}\n`);
  return {
    endpoint,
    async close() {
      if (endpointFile) await rm(endpointFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function endpointFileOf(dataDir: string): string {
  return path.join(dataDir, 'dynamodb.endpoint');
}

/** The endpoint of a running local stack for this data dir, if its file is there. */
export async function runningEndpoint(dataDir: string): Promise<string | undefined> {
  const text = await readFile(endpointFileOf(dataDir), 'utf8').catch(() => undefined);
  return text?.trim() || undefined;
}

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'local', credentials: LOCAL_CREDENTIALS });
}
