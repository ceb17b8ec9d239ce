/**
 * A local stand-in for DynamoDB (dynalite) that the real `DynamoDBClient` talks
 * to, with fault injection in front of it: chosen requests are answered with the
 * errors DynamoDB gives (throttling, internal errors) instead of reaching dynalite.
 *
 * SECURITY: dynalite checks no signature, and the `/_control/*` routes have no
 * authentication; it listens on 127.0.0.1 unless told otherwise.
 * STANDARDS: DynamoDB API 2012-08-10 over awsJson1_0 (`X-Amz-Target`, errors as
 * `{"__type": "<namespace>#<Code>", "message"}`), which the SDK parses into its
 * exception classes (`ProvisionedThroughputExceededException`, ...).
 */
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { createOwnerOnlyFiles, ensurePrivateDir } from '../private-path.ts';
import { FaultPlan, isDelayFault } from './fault-plan.ts';

/** Names the local stack uses for its tables; in AWS the CDK stack names them. */
export const LOCAL_USERS_TABLE = 'relay-users';
export const LOCAL_COUNTERS_TABLE = 'relay-counters';
export const LOCAL_REPUTATION_TABLE = 'relay-reputation';

/** Faults answered with a DynamoDB error; see `ERROR_FAULTS` for the exact answers. */
export type DynamoErrorFault = 'throttle' | 'throttling' | 'internal' | 'unavailable';

/**
 * What a faulted request gets:
 * - the `DynamoErrorFault`s: that error at once; dynalite never sees the request.
 * - `hang`: never answered (until `close()`), so that a client timeout has to fire.
 * - `delay:<ms>`: served by dynalite after `<ms>`.
 */
export type DynamoFaultKind = DynamoErrorFault | 'hang' | `delay:${number}`;

/**
 * A fault, optionally narrowed to requests of one operation or one table:
 * `throttle` hits every item request, `throttle@GetItem` only GetItem,
 * `internal@relay-users` only item requests on that table.
 *
 * Only item operations (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan,
 * the Batch* and Transact* ones) are ever faulted: table management runs once at
 * start, and a fault there would stop the stack from starting instead of showing
 * how the relay copes. A request the fault does not match leaves its count alone.
 */
export type DynamoFault = DynamoFaultKind | `${DynamoFaultKind}@${string}`;

export interface EmbeddedDynamoDbOptions {
  /** Where `LOCAL_DYNAMODB_FAULT` and `LOCAL_DYNAMODB_FAULT_COUNT` are read at start. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** Counters since start; `requests` counts every API request, faulted or served. */
export interface DynamoEndpointStats {
  readonly requests: number;
  /** Answered by a fault (an error, or held by `hang`). */
  readonly faulted: number;
  /** `faulted` by fault kind (`throttle`, `hang`, ...; `delay:*` is not counted here: it is served). */
  readonly faults: Readonly<Record<string, number>>;
  /** `requests` by operation (`GetItem`, `UpdateItem`, ...). */
  readonly operations: Readonly<Record<string, number>>;
  /** Item operations by table, then operation: one table's traffic apart from the others' (the counters' writes, say). */
  readonly operationsByTable: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface EmbeddedDynamoDb {
  readonly endpoint: string;
  /** Arms faults from code; `LOCAL_DYNAMODB_FAULT[_COUNT]` and `POST /_control/fault` arm this same plan. */
  readonly faults: FaultPlan<DynamoFault>;
  stats(): DynamoEndpointStats;
  close(): Promise<void>;
}

interface DynamoError {
  readonly status: number;
  readonly type: string;
  readonly message: string;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const DYNAMODB_NAMESPACE = 'com.amazonaws.dynamodb.v20120810';
const ITEM_OPERATIONS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'TransactGetItems',
  'TransactWriteItems',
]);
const CONTROL_PREFIX = '/_control/';
const CONTROL_BODY_LIMIT = 64 * 1024;

/** The answers DynamoDB gives, with its own texts; the SDK names its exception after the code after `#`. */
const ERROR_FAULTS: Readonly<Record<DynamoErrorFault, DynamoError>> = {
  throttle: {
    status: 400,
    type: `${DYNAMODB_NAMESPACE}#ProvisionedThroughputExceededException`,
    message:
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
  },
  throttling: {
    status: 400,
    type: `${DYNAMODB_NAMESPACE}#ThrottlingException`,
    message: 'Rate of requests exceeds the allowed throughput.',
  },
  internal: {
    status: 500,
    type: `${DYNAMODB_NAMESPACE}#InternalServerError`,
    message: 'Internal server error',
  },
  unavailable: {
    status: 503,
    type: 'com.amazon.coral.availability#ServiceUnavailableException',
    message: 'Service Unavailable',
  },
};

function isErrorFault(text: string): text is DynamoErrorFault {
  return Object.hasOwn(ERROR_FAULTS, text);
}

function isFaultKind(text: string): text is DynamoFaultKind {
  return isErrorFault(text) || text === 'hang' || isDelayFault(text);
}

function isDynamoFault(text: string): text is DynamoFault {
  const at = text.indexOf('@');
  return at === -1 ? isFaultKind(text) : isFaultKind(text.slice(0, at)) && /^[A-Za-z0-9_.-]{1,255}$/.test(text.slice(at + 1));
}

/**
 * A DynamoDB-compatible server (dynalite) on loopback, its data kept under
 * `<dataDir>/dynamodb` so users survive a restart. Only one process may open
 * that store, so while it runs its address is written to
 * `<dataDir>/dynamodb.endpoint`, where `relayctl` finds it.
 *
 * Faults (see `DynamoFault`) are armed from `LOCAL_DYNAMODB_FAULT` (and
 * `LOCAL_DYNAMODB_FAULT_COUNT`) at start, through `faults`, or at run time with
 * `POST <endpoint>/_control/fault {"fault":"throttle@GetItem","count":2}`;
 * `DELETE /_control/fault` clears, `GET /_control/stats` counts.
 */
export async function startEmbeddedDynamoDb(
  dataDir: string | undefined,
  host = '127.0.0.1',
  options: EmbeddedDynamoDbOptions = {},
): Promise<EmbeddedDynamoDb> {
  const faults = FaultPlan.fromEnvironment(isDynamoFault, options.env ?? process.env, 'LOCAL_DYNAMODB');
  const storePath = dataDir ? path.join(dataDir, 'dynamodb') : undefined;
  if (storePath) {
    // The store holds password hashes: its folder and every file leveldb makes in it are the owner's only.
    createOwnerOnlyFiles();
    await ensurePrivateDir(storePath, 'users store (password hashes)', `chmod -R go= ${storePath}`);
  }
  const server: Server = dynalite({ ...(storePath ? { path: storePath } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });

  const stats = { requests: 0, faulted: 0 };
  const faultCounts: Record<string, number> = {};
  const operations: Record<string, number> = {};
  const operationsByTable: Record<string, Record<string, number>> = {};
  const snapshot = (): DynamoEndpointStats => ({
    ...stats,
    faults: { ...faultCounts },
    operations: { ...operations },
    operationsByTable: Object.fromEntries(Object.entries(operationsByTable).map(([table, counts]) => [table, { ...counts }])),
  });
  // Aborted by close(): answers nothing more and wakes held and delayed requests.
  const closing = new AbortController();

  const [serve] = server.listeners('request') as RequestListener[];
  if (serve === undefined) throw new Error('dynalite registered no request listener');
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url.startsWith(CONTROL_PREFIX)) {
      void serveControl(req, res, faults, snapshot);
      return;
    }
    const operation = operationOf(req);
    if (operation === undefined) {
      serve(req, res);
      return;
    }
    stats.requests += 1;
    operations[operation] = (operations[operation] ?? 0) + 1;
    if (!ITEM_OPERATIONS.has(operation)) {
      serve(req, res);
      return;
    }
    // The table name is in the body: read it whole, count and decide, then hand dynalite a replay.
    void readBody(req).then(
      async (body) => {
        const tables = tablesOf(body);
        for (const table of tables) {
          const counts = (operationsByTable[table] ??= {});
          counts[operation] = (counts[operation] ?? 0) + 1;
        }
        const fault = faults.current() === undefined ? undefined : takeMatchingFault(faults, operation, tables);
        const replay = replayOf(req, body);
        if (fault === undefined) {
          serve(replay, res);
          return;
        }
        const [kind] = fault.split('@') as [DynamoFaultKind];
        if (kind.startsWith('delay:')) {
          if (await wait(Number(kind.slice('delay:'.length)), closing.signal)) serve(replay, res);
          else res.destroy();
          return;
        }
        stats.faulted += 1;
        faultCounts[kind] = (faultCounts[kind] ?? 0) + 1;
        if (isErrorFault(kind)) {
          replyError(res, ERROR_FAULTS[kind]);
        } else {
          await hang(res, closing.signal);
        }
      },
      () => res.destroy(),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const endpoint = `http://${host}:${(server.address() as AddressInfo).port}`;
  const endpointFile = dataDir ? endpointFileOf(dataDir) : undefined;
  if (endpointFile) await writeFile(endpointFile, `${endpoint}\n`);
  return {
    endpoint,
    faults,
    stats: snapshot,
    async close() {
      closing.abort();
      if (endpointFile) await rm(endpointFile, { force: true });
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A held request keeps its connection busy; server.close() alone would wait for it.
      server.closeAllConnections();
      await closed;
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

/** `GetItem` from `X-Amz-Target: DynamoDB_20120810.GetItem`; undefined for anything that is no API request. */
function operationOf(req: IncomingMessage): string | undefined {
  if (req.method !== 'POST') return undefined;
  const target = req.headers['x-amz-target'];
  const match = typeof target === 'string' ? /^DynamoDB_\d{8}\.([A-Za-z]+)$/.exec(target) : null;
  return match?.[1];
}

/**
 * Uses up the armed fault if it applies to this request; a fault narrowed to
 * another operation or table stays armed, its count untouched.
 */
function takeMatchingFault(faults: FaultPlan<DynamoFault>, operation: string, tables: readonly string[]): DynamoFault | undefined {
  const armed = faults.current();
  if (armed === undefined) return undefined;
  const at = armed.fault.indexOf('@');
  const target = at === -1 ? undefined : armed.fault.slice(at + 1);
  if (target !== undefined && target !== operation && !tables.includes(target)) return undefined;
  return faults.take();
}

/** The tables an item request names: `TableName`, or the keys of `RequestItems`, or those inside `TransactItems`. */
function tablesOf(body: Buffer): string[] {
  let request: unknown;
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  if (!isRecord(request)) return [];
  const tables = new Set<string>();
  if (typeof request.TableName === 'string') tables.add(request.TableName);
  if (isRecord(request.RequestItems)) for (const name of Object.keys(request.RequestItems)) tables.add(name);
  if (Array.isArray(request.TransactItems)) {
    for (const item of request.TransactItems) {
      if (!isRecord(item)) continue;
      for (const action of Object.values(item)) {
        if (isRecord(action) && typeof action.TableName === 'string') tables.add(action.TableName);
      }
    }
  }
  return [...tables];
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * A stand-in for the request whose body was already read, for dynalite's handler:
 * it reads `headers`, `method` and `url` and listens for `data` and `end`.
 */
function replayOf(req: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = Readable.from(body.length > 0 ? [body] : []);
  return Object.assign(replay, { headers: req.headers, method: req.method, url: req.url }) as unknown as IncomingMessage;
}

function replyError(res: ServerResponse, error: DynamoError): void {
  if (res.destroyed) return;
  const body = JSON.stringify({ __type: error.type, message: error.message });
  res.writeHead(error.status, {
    'Content-Type': 'application/x-amz-json-1.0',
    'Content-Length': String(Buffer.byteLength(body)),
    'x-amzn-RequestId': randomUUID(),
    'x-amz-crc32': String(crc32(body)),
  });
  res.end(body);
}

/** Holds the response unanswered until the client gives up or the server closes. */
function hang(res: ServerResponse, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      closing.removeEventListener('abort', done);
      res.destroy();
      resolve();
    };
    if (closing.aborted) return done();
    closing.addEventListener('abort', done, { once: true });
    res.once('close', done);
  });
}

async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** `GET|POST|DELETE /_control/fault` and `GET /_control/stats`, as the SES and Lambda stand-ins answer them. */
async function serveControl(
  req: IncomingMessage,
  res: ServerResponse,
  faults: FaultPlan<DynamoFault>,
  stats: () => DynamoEndpointStats,
): Promise<void> {
  const json = (status: number, value: unknown): void => {
    const body = JSON.stringify(value);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  };
  const described = () => faults.current() ?? { fault: null, remaining: null };
  const route = `${req.method ?? 'GET'} ${(req.url ?? '').slice(CONTROL_PREFIX.length).split('?')[0] ?? ''}`;
  switch (route) {
    case 'GET fault':
      return json(200, described());
    case 'DELETE fault':
      faults.clear();
      return json(200, described());
    case 'POST fault': {
      const body = await readBody(req).catch(() => Buffer.alloc(0));
      let request: unknown;
      try {
        request = body.length <= CONTROL_BODY_LIMIT ? JSON.parse(body.toString('utf8')) : undefined;
      } catch {
        request = undefined;
      }
      if (!isRecord(request) || typeof request.fault !== 'string' || !(request.count === undefined || typeof request.count === 'number')) {
        return json(400, { message: 'expected a JSON body {"fault": string, "count"?: number}' });
      }
      try {
        faults.armText(request.fault, request.count);
      } catch (error) {
        return json(400, { message: (error as Error).message });
      }
      return json(200, described());
    }
    case 'GET stats':
      return json(200, stats());
    default:
      return json(404, { message: 'control routes: GET|POST|DELETE /_control/fault, GET /_control/stats' });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
