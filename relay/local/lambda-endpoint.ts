/**
 * A local stand-in for AWS Lambda's Invoke API, so that the relay's production
 * Lambda client code runs on one machine with the real `LambdaClient`: only
 * `endpoint` and credentials change. It runs one function, given as code.
 *
 * Like Lambda, a function that throws or runs past its timeout is answered 200
 * with `X-Amz-Function-Error: Unhandled` (the SDK returns that as `FunctionError`
 * on the output, not as an exception); throttling, unknown functions and oversized
 * requests are HTTP errors the SDK throws. Faults can be armed from the
 * environment or the control routes.
 *
 * SECURITY: accepts any SigV4 signature without checking it, and its control routes
 * have no authentication; it listens on 127.0.0.1 unless told otherwise.
 * STANDARDS: AWS Lambda `Invoke` (POST /2015-03-31/functions/{FunctionName}/invocations),
 * RequestResponse only; AWS restJson1 errors (`x-amzn-ErrorType` header, JSON body).
 */
import { FaultPlan, isDelayFault } from './fault-plan.ts';
import { startLocalEndpointServer, type LocalEndpointRequest } from './local-endpoint-server.ts';

/**
 * Every fault the stand-in can play:
 * - `function-error`: the handler is not run; 200 with `X-Amz-Function-Error: Unhandled`.
 * - `timeout`: the handler is not run; after `functionTimeoutMs`, the function error
 *   Lambda gives a timed-out function (`Sandbox.Timedout`, "Task timed out after N seconds").
 * - `hang`: never answered, so that the client's own timeout has to fire.
 * - `throttle`: 429 `TooManyRequestsException`.
 * - `internal`: 500 `ServiceException`.
 * - `delay:<ms>`: the function runs normally after `<ms>`.
 * Faults apply to valid requests only: a request for an unknown function, too large
 * or not JSON gets its error and does not use up a fault.
 */
export type LambdaFault = 'function-error' | 'timeout' | 'hang' | 'throttle' | 'internal' | `delay:${number}`;

export interface LocalLambdaEndpointOptions {
  /**
   * The function: receives the parsed JSON payload (unchecked, as in Lambda) and
   * resolves with the result, which is answered as JSON. A throw or a rejection
   * becomes an `Unhandled` function error.
   */
  readonly handler: (event: unknown) => Promise<unknown>;
  /** The one function name the endpoint answers to (as name, ARN or partial ARN). @default 'local-function' */
  readonly functionName?: string;
  /** Lambda's function timeout; a handler still running then ends as a timed-out function error. @default 3000 (Lambda's default) */
  readonly functionTimeoutMs?: number;
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Where `LOCAL_LAMBDA_FAULT` and `LOCAL_LAMBDA_FAULT_COUNT` are read at start. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Receives one line on start (URL, function, armed fault); never an event or a result. */
  readonly log?: (line: string) => void;
}

/** Counters since start. When no request is in progress, `requests = succeeded + functionErrors + failed + unanswered`. */
export interface LambdaEndpointStats {
  /** Invoke requests received; every SDK attempt counts. */
  readonly requests: number;
  /** Answered 200 with the function's result. */
  readonly succeeded: number;
  /** Answered 200 with `X-Amz-Function-Error` (the handler threw, timed out, or the fault said so). */
  readonly functionErrors: number;
  /** Answered with an HTTP error (unknown function, too large, throttled, ...). */
  readonly failed: number;
  /** Never answered (`hang`, or the server closed first). */
  readonly unanswered: number;
  /** `failed` by error code. */
  readonly errors: Readonly<Record<string, number>>;
  /** `functionErrors` by the payload's `errorType`. */
  readonly functionErrorTypes: Readonly<Record<string, number>>;
}

export interface LocalLambdaEndpoint {
  /** Give this to `LambdaClient` as `endpoint`. */
  readonly url: string;
  readonly port: number;
  readonly functionName: string;
  readonly faults: FaultPlan<LambdaFault>;
  stats(): LambdaEndpointStats;
  /** Stops listening and drops held requests (their clients see the connection close). A handler still running is not waited for. */
  close(): Promise<void>;
}

/** The body of a function error answer, as Lambda's Node.js runtime writes it. */
interface FunctionErrorPayload {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: readonly string[];
}

interface InvokeError {
  readonly status: number;
  readonly code: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
/** Name, `name:qualifier`, full ARN or partial ARN (`123456789012:function:name`), as Invoke accepts. */
const FUNCTION_REFERENCE =
  /^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?([A-Za-z0-9_-]{1,140})(?::(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;
/** Lambda's limit on a synchronous request payload; its error message names this number. */
const MAX_REQUEST_BYTES = 6_291_456;
/** Lambda's limit on a synchronous response payload, as its error message states it (100 bytes over 6 MiB). */
const MAX_RESPONSE_BYTES = 6_291_556;
const ACCOUNT_ID = '000000000000';
const RESULT_HEADERS = { 'X-Amz-Executed-Version': '$LATEST' };

function isLambdaFault(text: string): text is LambdaFault {
  return ['function-error', 'timeout', 'hang', 'throttle', 'internal'].includes(text) || isDelayFault(text);
}

export async function startLocalLambdaEndpoint(options: LocalLambdaEndpointOptions): Promise<LocalLambdaEndpoint> {
  const faults = FaultPlan.fromEnvironment(isLambdaFault, options.env ?? process.env, 'LOCAL_LAMBDA');
  const functionName = options.functionName ?? 'local-function';
  const functionTimeoutMs = options.functionTimeoutMs ?? 3_000;
  const stats = { requests: 0, succeeded: 0, functionErrors: 0, failed: 0, unanswered: 0 };
  const errors: Record<string, number> = {};
  const functionErrorTypes: Record<string, number> = {};
  const snapshot = (): LambdaEndpointStats => ({ ...stats, errors: { ...errors }, functionErrorTypes: { ...functionErrorTypes } });

  const fail = (request: LocalEndpointRequest, error: InvokeError): void => {
    stats.failed += 1;
    errors[error.code] = (errors[error.code] ?? 0) + 1;
    request.replyError(error.status, error.code, error.fields);
  };

  const functionError = (request: LocalEndpointRequest, payload: FunctionErrorPayload): void => {
    stats.functionErrors += 1;
    functionErrorTypes[payload.errorType] = (functionErrorTypes[payload.errorType] ?? 0) + 1;
    request.reply(200, JSON.stringify(payload), { ...RESULT_HEADERS, 'X-Amz-Function-Error': 'Unhandled' });
  };

  const timedOut = (request: LocalEndpointRequest): void =>
    functionError(request, {
      errorType: 'Sandbox.Timedout',
      errorMessage: `RequestId: ${request.requestId} Error: Task timed out after ${(functionTimeoutMs / 1000).toFixed(2)} seconds`,
    });

  const invoke = async (request: LocalEndpointRequest, event: unknown): Promise<void> => {
    const finished = new AbortController();
    const run = Promise.resolve()
      .then(() => options.handler(event))
      .then(
        (value) => ({ kind: 'returned', value }) as const,
        (error: unknown) => ({ kind: 'threw', error }) as const,
      );
    const clock = request.wait(functionTimeoutMs, finished.signal).then((expired) => ({ kind: expired ? 'timed-out' : 'closed' }) as const);
    const outcome = await Promise.race([run, clock]);
    // A handler that returned in time must not leave the timeout timer holding the process open.
    finished.abort();
    switch (outcome.kind) {
      case 'closed':
        stats.unanswered += 1;
        return;
      case 'timed-out':
        timedOut(request);
        return;
      case 'threw':
        functionError(request, describeThrown(outcome.error));
        return;
      case 'returned': {
        let payload: string;
        try {
          // Lambda answers `null` for a handler that resolves with nothing.
          payload = JSON.stringify(outcome.value) ?? 'null';
        } catch (error) {
          functionError(request, describeThrown(error));
          return;
        }
        if (Buffer.byteLength(payload) > MAX_RESPONSE_BYTES) {
          functionError(request, {
            errorType: 'Function.ResponseSizeTooLarge',
            errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
          });
          return;
        }
        stats.succeeded += 1;
        request.reply(200, payload, RESULT_HEADERS);
      }
    }
  };

  const handle = async (request: LocalEndpointRequest): Promise<void> => {
    const invocation = request.method === 'POST' ? INVOKE_PATH.exec(request.path) : null;
    if (invocation === null) {
      request.replyError(404, 'UnknownOperationException', {
        message: 'The local Lambda endpoint implements Invoke (POST /2015-03-31/functions/{FunctionName}/invocations) only.',
      });
      return;
    }
    const body = await request.body(MAX_REQUEST_BYTES);
    stats.requests += 1;
    const target = parseInvokeTarget(invocation[1] ?? '', request, functionName, body.tooLarge ? undefined : body.bytes);
    if ('status' in target) {
      fail(request, target);
      return;
    }
    const fault = faults.take();
    switch (fault) {
      case undefined:
        await invoke(request, target.event);
        return;
      case 'function-error':
        functionError(request, { errorType: 'Error', errorMessage: 'Injected function error (local Lambda endpoint fault).', trace: [] });
        return;
      case 'timeout':
        if (await request.wait(functionTimeoutMs)) {
          timedOut(request);
        } else {
          stats.unanswered += 1;
        }
        return;
      case 'hang':
        stats.unanswered += 1;
        await request.hang();
        return;
      case 'throttle':
        fail(request, {
          status: 429,
          code: 'TooManyRequestsException',
          fields: { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', Type: 'User', message: 'Rate Exceeded.' },
        });
        return;
      case 'internal':
        fail(request, { status: 500, code: 'ServiceException', fields: { Type: 'Service', Message: 'Lambda encountered an internal error.' } });
        return;
      default:
        if (await request.wait(Number(fault.slice('delay:'.length)))) {
          await invoke(request, target.event);
        } else {
          stats.unanswered += 1;
        }
    }
  };

  const server = await startLocalEndpointServer({ host: options.host, port: options.port, faults, stats: snapshot, handle });
  const armed = faults.current();
  options.log?.(
    `local Lambda endpoint for function ${functionName} listening on ${server.url}, function timeout ${functionTimeoutMs} ms` +
      (armed === undefined ? '' : `, fault ${armed.fault} armed for ${armed.remaining ?? 'every'} request(s)`),
  );
  return { url: server.url, port: server.port, functionName, faults, stats: snapshot, close: server.close };
}

/**
 * Checks an Invoke request the way Lambda does before running anything; returns the
 * event or the error Lambda would answer. `bytes` is undefined for an oversized body.
 */
function parseInvokeTarget(
  encodedReference: string,
  request: LocalEndpointRequest,
  functionName: string,
  bytes: Buffer | undefined,
): { readonly event: unknown } | InvokeError {
  let reference: string;
  try {
    reference = decodeURIComponent(encodedReference);
  } catch {
    reference = encodedReference;
  }
  const match = FUNCTION_REFERENCE.exec(reference);
  const pathQualifier = match?.[2];
  const queryQualifier = request.query.get('Qualifier') ?? undefined;
  if (pathQualifier !== undefined && queryQualifier !== undefined && pathQualifier !== queryQualifier) {
    return {
      status: 400,
      code: 'InvalidParameterValueException',
      fields: { Type: 'User', message: 'The derived qualifier from the function name does not match the specified qualifier.' },
    };
  }
  const qualifier = queryQualifier ?? pathQualifier;
  // Only the unpublished version exists here: any other qualifier names nothing.
  if (match?.[1] !== functionName || (qualifier !== undefined && qualifier !== '$LATEST')) {
    const arn = `arn:aws:lambda:${request.signingRegion}:${ACCOUNT_ID}:function:${match?.[1] ?? reference}`;
    return {
      status: 404,
      code: 'ResourceNotFoundException',
      fields: { Type: 'User', Message: `Function not found: ${qualifier === undefined ? arn : `${arn}:${qualifier}`}` },
    };
  }
  if (bytes === undefined) {
    return {
      status: 413,
      code: 'RequestTooLargeException',
      fields: { Type: 'User', message: `Request must be smaller than ${MAX_REQUEST_BYTES} bytes for the InvokeFunction operation` },
    };
  }
  const invocationType = request.headers['x-amz-invocation-type'] ?? 'RequestResponse';
  if (invocationType !== 'RequestResponse') {
    return {
      status: 400,
      code: 'InvalidParameterValueException',
      fields: { Type: 'User', message: 'The local Lambda endpoint implements InvocationType RequestResponse only.' },
    };
  }
  if (bytes.length === 0) {
    // Invoke without a payload runs the function with an empty object.
    return { event: {} };
  }
  try {
    return { event: JSON.parse(bytes.toString('utf8')) as unknown };
  } catch (error) {
    return {
      status: 400,
      code: 'InvalidRequestContentException',
      fields: { Type: 'User', message: `Could not parse request body into json: ${(error as Error).message}` },
    };
  }
}

/** What Lambda's Node.js runtime reports for a thrown value. */
function describeThrown(error: unknown): FunctionErrorPayload {
  if (error instanceof Error) {
    return { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n') };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}
