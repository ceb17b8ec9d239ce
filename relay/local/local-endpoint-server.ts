/**
 * The HTTP plumbing shared by the local stand-ins of AWS services: listening,
 * AWS-style JSON answers and errors, the `/_control/*` routes, and a `close()`
 * that ends promptly even while requests are held open by a fault.
 *
 * SECURITY: no authentication at all, on the stand-in nor on its control routes;
 * it listens on 127.0.0.1 unless told otherwise. Never expose it beyond the machine.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultPlan } from './fault-plan.ts';

/** A request body read whole, or only measured when it was over the limit. */
export type RequestBody = { readonly tooLarge: false; readonly bytes: Buffer } | { readonly tooLarge: true; readonly size: number };

/** One request to the service, as a stand-in's handler sees it. */
export interface LocalEndpointRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Sent back as `x-amzn-RequestId`; the SDK reports it as `$metadata.requestId`. */
  readonly requestId: string;
  /** Region of the SigV4 credential scope (the signature itself is never checked). */
  readonly signingRegion: string;
  /**
   * Reads the body. Past `limit` bytes it keeps reading and discards, so that the
   * client finishes sending and can read the error answer instead of a reset.
   */
  body(limit: number): Promise<RequestBody>;
  /** Answers with `body` as `application/json`. Returns false when the client is gone or the server closing: the answer was not delivered. */
  reply(status: number, body: string | Buffer, headers?: Readonly<Record<string, string>>): boolean;
  /** Answers an AWS error the way restJson1 services do: the code in `x-amzn-ErrorType`, the fields as a JSON body. */
  replyError(status: number, code: string, fields: Readonly<Record<string, unknown>>): boolean;
  /** Waits `ms`; false when the server closed (drop the request then) or `cancel` fired first. */
  wait(ms: number, cancel?: AbortSignal): Promise<boolean>;
  /** Holds the request unanswered until the client gives up or the server closes. */
  hang(): Promise<void>;
}

export interface LocalEndpointServerOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** The fault plan the `/_control/fault` routes arm and clear. */
  readonly faults: FaultPlan<string>;
  /** The counters `GET /_control/stats` answers with. */
  readonly stats: () => object;
  /** Answers every request outside `/_control/`. A throw becomes `500 InternalFailure`. */
  readonly handle: (request: LocalEndpointRequest) => Promise<void>;
}

export interface LocalEndpointServer {
  /** Base URL to give an SDK client as `endpoint`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening, drops held and delayed requests, and resolves when in-flight work has settled. */
  close(): Promise<void>;
}

const CONTROL_PREFIX = '/_control/';
const CONTROL_BODY_LIMIT = 64 * 1024;

export async function startLocalEndpointServer(options: LocalEndpointServerOptions): Promise<LocalEndpointServer> {
  const host = options.host ?? '127.0.0.1';
  // Aborted by close(): wakes every delayed and held request so that close() never waits on a fault.
  const closing = new AbortController();
  const inFlight = new Set<Promise<void>>();

  const server = createServer((req, res) => {
    const exchange = new Exchange(req, res, closing.signal);
    const task = serve(exchange, options).finally(() => inFlight.delete(task));
    inFlight.add(task);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing.abort();
      const stopped = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      // A held request keeps its connection busy; server.close() alone would wait for it forever.
      server.closeAllConnections();
      await stopped;
      await Promise.allSettled([...inFlight]);
    })();
    return closed;
  };

  return { url, port, close };
}

async function serve(exchange: Exchange, options: LocalEndpointServerOptions): Promise<void> {
  try {
    if (exchange.path.startsWith(CONTROL_PREFIX)) {
      await serveControl(exchange, options);
    } else {
      await options.handle(exchange);
    }
  } catch (error) {
    if (!exchange.handled) {
      // The cause goes into the message: this is a local tool and its user needs to see why (disk full, ...).
      exchange.replyError(500, 'InternalFailure', {
        message: `local endpoint failure: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
}

async function serveControl(exchange: Exchange, options: LocalEndpointServerOptions): Promise<void> {
  const route = `${exchange.method} ${exchange.path.slice(CONTROL_PREFIX.length)}`;
  switch (route) {
    case 'GET fault':
      exchange.replyJson(200, describeFault(options.faults));
      return;
    case 'DELETE fault':
      options.faults.clear();
      exchange.replyJson(200, describeFault(options.faults));
      return;
    case 'POST fault': {
      const body = await exchange.body(CONTROL_BODY_LIMIT);
      const request = body.tooLarge ? undefined : parseJson(body.bytes);
      if (!isRecord(request) || typeof request.fault !== 'string' || !(request.count === undefined || typeof request.count === 'number')) {
        exchange.replyJson(400, { message: 'expected a JSON body {"fault": string, "count"?: number}' });
        return;
      }
      try {
        options.faults.armText(request.fault, request.count);
      } catch (error) {
        exchange.replyJson(400, { message: (error as Error).message });
        return;
      }
      exchange.replyJson(200, describeFault(options.faults));
      return;
    }
    case 'GET stats':
      exchange.replyJson(200, options.stats());
      return;
    default:
      exchange.replyJson(404, { message: 'control routes: GET|POST|DELETE /_control/fault, GET /_control/stats' });
  }
}

function describeFault(faults: FaultPlan<string>): object {
  return faults.current() ?? { fault: null, remaining: null };
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Exchange implements LocalEndpointRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly requestId = randomUUID();
  readonly signingRegion: string;
  /** Set once the handler answered or chose to hold the request: the fallback 500 must not follow. */
  handled = false;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #closing: AbortSignal;

  constructor(req: IncomingMessage, res: ServerResponse, closing: AbortSignal) {
    const target = new URL(req.url ?? '/', 'http://local');
    this.method = req.method ?? 'GET';
    this.path = target.pathname;
    this.query = target.searchParams;
    this.headers = req.headers;
    this.signingRegion = /Credential=[^/,]+\/\d{8}\/([^/,]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? 'us-east-1';
    this.#req = req;
    this.#res = res;
    this.#closing = closing;
  }

  body(limit: number): Promise<RequestBody> {
    const req = this.#req;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= limit) {
          chunks.push(chunk);
        } else {
          chunks.length = 0;
        }
      });
      req.once('end', () => resolve(size <= limit ? { tooLarge: false, bytes: Buffer.concat(chunks, size) } : { tooLarge: true, size }));
      req.once('close', () => {
        if (!req.complete) {
          reject(new Error('the client went away before the request body ended'));
        }
      });
    });
  }

  reply(status: number, body: string | Buffer, headers: Readonly<Record<string, string>> = {}): boolean {
    const res = this.#res;
    this.handled = true;
    if (res.destroyed || this.#closing.aborted) {
      return false;
    }
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(bytes.length),
      'x-amzn-RequestId': this.requestId,
      ...headers,
    });
    res.end(bytes);
    return true;
  }

  replyJson(status: number, value: unknown): boolean {
    return this.reply(status, JSON.stringify(value));
  }

  replyError(status: number, code: string, fields: Readonly<Record<string, unknown>>): boolean {
    return this.reply(status, JSON.stringify(fields), { 'x-amzn-ErrorType': code });
  }

  async wait(ms: number, cancel?: AbortSignal): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: cancel === undefined ? this.#closing : AbortSignal.any([this.#closing, cancel]) });
      return true;
    } catch {
      return false;
    }
  }

  hang(): Promise<void> {
    const res = this.#res;
    const closing = this.#closing;
    this.handled = true;
    return new Promise((resolve) => {
      if (res.destroyed || closing.aborted) {
        resolve();
        return;
      }
      const done = (): void => {
        closing.removeEventListener('abort', done);
        res.off('close', done);
        resolve();
      };
      closing.addEventListener('abort', done, { once: true });
      res.once('close', done);
    });
  }
}
