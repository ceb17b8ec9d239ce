import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  InvalidParameterValueException,
  InvalidRequestContentException,
  InvokeCommand,
  LambdaClient,
  RequestTooLargeException,
  ResourceNotFoundException,
  ServiceException,
  TooManyRequestsException,
  type InvocationResponse,
  type InvokeCommandInput,
  type LambdaClientConfig,
} from '@aws-sdk/client-lambda';
import { startLocalLambdaEndpoint, type LocalLambdaEndpoint, type LocalLambdaEndpointOptions } from '../../../relay/local/lambda-endpoint.ts';
import { until } from '../../support/until.ts';

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const FUNCTION_NAME = 'relay-policy';
/** Makes the SDK give up on an unanswered request; `requestTimeout` alone only logs a warning. */
const GIVE_UP_AFTER_200_MS = { requestTimeout: 200, throwOnRequestTimeout: true };
/** For tests that hold requests open: a regression fails them instead of stalling the run. */
const HANG_GUARD_MS = 10_000;
const REQUEST_LIMIT = 6_291_456;
const RESPONSE_LIMIT = 6_291_556;

interface Started {
  readonly lambda: LocalLambdaEndpoint;
  /** Every event the handler received. */
  readonly events: unknown[];
}

/** An endpoint running `handler` (by default: echo the event), closed after the test; `env: {}` keeps a developer's LOCAL_LAMBDA_FAULT out. */
async function start(
  t: TestContext,
  options: Partial<LocalLambdaEndpointOptions> = {},
  handler: (event: unknown) => Promise<unknown> = async (event) => ({ echo: event }),
): Promise<Started> {
  const events: unknown[] = [];
  const lambda = await startLocalLambdaEndpoint({
    functionName: FUNCTION_NAME,
    env: {},
    ...options,
    handler: (event) => {
      events.push(event);
      return handler(event);
    },
  });
  t.after(() => lambda.close());
  return { lambda, events };
}

function client(t: TestContext, url: string, config: LambdaClientConfig = {}): LambdaClient {
  const lambda = new LambdaClient({ endpoint: url, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1, ...config });
  t.after(() => lambda.destroy());
  return lambda;
}

function invoke(payload: unknown, overrides: Partial<InvokeCommandInput> = {}): InvokeCommand {
  return new InvokeCommand({
    FunctionName: FUNCTION_NAME,
    InvocationType: 'RequestResponse',
    Payload: new TextEncoder().encode(JSON.stringify(payload)),
    ...overrides,
  });
}

function payloadOf(out: InvocationResponse): unknown {
  return JSON.parse(new TextDecoder().decode(out.Payload));
}


test('runs the handler with the JSON payload and answers its result as JSON', async (t) => {
  const { lambda, events } = await start(t);
  const event = { action: 'authorizeSender', login: 'alice@example.org', sender: 'Alice@Example.org', nested: [1, null, 'ü'] };

  const out = await client(t, lambda.url).send(invoke(event));

  assert.deepEqual(events, [event]);
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, undefined);
  assert.equal(out.ExecutedVersion, '$LATEST');
  assert.match(out.$metadata.requestId ?? '', /^[0-9a-f-]{36}$/);
  assert.deepEqual(payloadOf(out), { echo: event });
  assert.deepEqual(lambda.stats(), {
    requests: 1,
    succeeded: 1,
    functionErrors: 0,
    failed: 0,
    unanswered: 0,
    errors: {},
    functionErrorTypes: {},
  });
});

test('a handler that resolves with nothing is answered null; an Invoke without payload passes {}', async (t) => {
  const { lambda, events } = await start(t, {}, async () => undefined);
  const sender = client(t, lambda.url);

  const out = await sender.send(invoke({ action: 'x' }));
  await sender.send(new InvokeCommand({ FunctionName: FUNCTION_NAME }));

  assert.equal(new TextDecoder().decode(out.Payload), 'null');
  assert.deepEqual(events, [{ action: 'x' }, {}]);
});

test('answers to the function by name, full ARN, partial ARN and with the $LATEST qualifier', async (t) => {
  const { lambda, events } = await start(t);
  const sender = client(t, lambda.url);
  const references = [
    FUNCTION_NAME,
    `${FUNCTION_NAME}:$LATEST`,
    `arn:aws:lambda:us-east-1:123456789012:function:${FUNCTION_NAME}`,
    `arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}:$LATEST`,
    `123456789012:function:${FUNCTION_NAME}`,
  ];

  for (const reference of references) {
    const out = await sender.send(invoke({ reference }, { FunctionName: reference }));
    assert.deepEqual(payloadOf(out), { echo: { reference } }, reference);
  }
  await sender.send(invoke({ reference: 'query' }, { Qualifier: '$LATEST' }));
  assert.equal(events.length, references.length + 1);
});

test('an unknown function or qualifier is a ResourceNotFoundException, and the handler does not run', async (t) => {
  const { lambda, events } = await start(t);
  const sender = client(t, lambda.url);
  const cases: Array<[Partial<InvokeCommandInput>, string]> = [
    [{ FunctionName: 'other-function' }, 'arn:aws:lambda:us-east-1:000000000000:function:other-function'],
    [{ FunctionName: `${FUNCTION_NAME}:prod` }, `arn:aws:lambda:us-east-1:000000000000:function:${FUNCTION_NAME}:prod`],
    [{ Qualifier: '7' }, `arn:aws:lambda:us-east-1:000000000000:function:${FUNCTION_NAME}:7`],
  ];

  for (const [overrides, arn] of cases) {
    await assert.rejects(
      sender.send(invoke({}, overrides)),
      (error: unknown) =>
        error instanceof ResourceNotFoundException &&
        error.$metadata.httpStatusCode === 404 &&
        error.Type === 'User' &&
        error.message === `Function not found: ${arn}`,
      JSON.stringify(overrides),
    );
  }
  await assert.rejects(sender.send(invoke({}, { FunctionName: `${FUNCTION_NAME}:$LATEST`, Qualifier: '7' })), InvalidParameterValueException);
  assert.deepEqual(events, []);
  assert.deepEqual(lambda.stats().errors, { ResourceNotFoundException: 3, InvalidParameterValueException: 1 });
});

class PolicyStoreError extends Error {
  override name = 'PolicyStoreError';
}

test('a handler that throws is an Unhandled function error on the output, not an exception', async (t) => {
  const { lambda } = await start(t, {}, async () => {
    throw new PolicyStoreError('users table unreachable');
  });

  const out = await client(t, lambda.url).send(invoke({ action: 'authenticate' }));

  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, 'Unhandled');
  const payload = payloadOf(out) as { errorType: string; errorMessage: string; trace: string[] };
  assert.equal(payload.errorType, 'PolicyStoreError');
  assert.equal(payload.errorMessage, 'users table unreachable');
  assert.match(payload.trace[0] ?? '', /^PolicyStoreError: users table unreachable/);
  assert.deepEqual(lambda.stats().functionErrorTypes, { PolicyStoreError: 1 });
  assert.equal(lambda.stats().functionErrors, 1);
});

test('a handler that throws a non-Error reports its type, as the Node.js runtime does', async (t) => {
  const { lambda } = await start(t, {}, () => Promise.reject('no decision'));

  const out = await client(t, lambda.url).send(invoke({}));

  assert.equal(out.FunctionError, 'Unhandled');
  assert.deepEqual(payloadOf(out), { errorType: 'string', errorMessage: 'no decision', trace: [] });
});

test('a handler still running at functionTimeoutMs ends as the Sandbox.Timedout function error', { timeout: HANG_GUARD_MS }, async (t) => {
  const { lambda } = await start(t, { functionTimeoutMs: 150 }, () => new Promise(() => undefined));
  const started = Date.now();

  const out = await client(t, lambda.url).send(invoke({}));

  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 145 && elapsed < 1_000, `answered after ${elapsed} ms`);
  assert.equal(out.FunctionError, 'Unhandled');
  const payload = payloadOf(out) as { errorType: string; errorMessage: string };
  assert.equal(payload.errorType, 'Sandbox.Timedout');
  assert.equal(payload.errorMessage, `RequestId: ${out.$metadata.requestId} Error: Task timed out after 0.15 seconds`);
});

test('a handler that returns in time leaves no function-timeout timer running', async (t) => {
  const { lambda } = await start(t, { functionTimeoutMs: 60_000 });
  const sender = client(t, lambda.url);
  await sender.send(invoke({}));
  const timers = (): number => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
  const before = timers();

  for (let n = 0; n < 5; n++) {
    await sender.send(invoke({ n }));
  }

  assert.ok(timers() <= before, `${timers() - before} timers left running`);
});

test('fault function-error: an Unhandled function error without running the handler', async (t) => {
  const { lambda, events } = await start(t);
  lambda.faults.arm('function-error', 1);
  const sender = client(t, lambda.url);

  const out = await sender.send(invoke({}));

  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, 'Unhandled');
  assert.deepEqual(payloadOf(out), { errorType: 'Error', errorMessage: 'Injected function error (local Lambda endpoint fault).', trace: [] });
  assert.deepEqual(events, []);
  assert.equal((await sender.send(invoke({}))).FunctionError, undefined, 'a count of 1 is used up by one request');
});

test('fault timeout: the timed-out function error after functionTimeoutMs, without running the handler', { timeout: HANG_GUARD_MS }, async (t) => {
  const { lambda, events } = await start(t, { functionTimeoutMs: 200 });
  lambda.faults.arm('timeout', 1);
  const started = Date.now();

  const out = await client(t, lambda.url).send(invoke({}));

  assert.ok(Date.now() - started >= 195, `answered after ${Date.now() - started} ms`);
  assert.equal(out.FunctionError, 'Unhandled');
  assert.match((payloadOf(out) as { errorMessage: string }).errorMessage, /Task timed out after 0\.20 seconds$/);
  assert.deepEqual(events, []);
});

test('fault throttle: the SDK throws TooManyRequestsException (429) with Lambda\'s reason', async (t) => {
  const { lambda, events } = await start(t);
  lambda.faults.arm('throttle', 1);

  await assert.rejects(client(t, lambda.url).send(invoke({})), (error: unknown) => {
    assert.ok(error instanceof TooManyRequestsException, String(error));
    assert.equal(error.$metadata.httpStatusCode, 429);
    assert.equal(error.$fault, 'client');
    assert.equal(error.Reason, 'ReservedFunctionConcurrentInvocationLimitExceeded');
    assert.equal(error.Type, 'User');
    assert.equal(error.message, 'Rate Exceeded.');
    return true;
  });
  assert.deepEqual(events, []);
  assert.deepEqual(lambda.stats().errors, { TooManyRequestsException: 1 });
});

test('fault internal: the SDK throws ServiceException (500)', async (t) => {
  const { lambda } = await start(t);
  lambda.faults.arm('internal', 1);

  await assert.rejects(
    client(t, lambda.url).send(invoke({})),
    (error: unknown) => error instanceof ServiceException && error.$metadata.httpStatusCode === 500 && error.$fault === 'server',
  );
});

test('fault hang: never answered, so the client\'s own timeout fires', { timeout: HANG_GUARD_MS }, async (t) => {
  const { lambda, events } = await start(t);
  lambda.faults.arm('hang', 1);

  await assert.rejects(client(t, lambda.url, { requestHandler: GIVE_UP_AFTER_200_MS }).send(invoke({})), { name: 'TimeoutError' });

  assert.deepEqual(events, []);
  assert.equal(lambda.stats().unanswered, 1);
});

test('fault delay:<ms>: the function runs and is answered after the delay', async (t) => {
  const { lambda } = await start(t);
  lambda.faults.arm('delay:250', 1);
  const started = Date.now();

  const out = await client(t, lambda.url).send(invoke({ n: 1 }));

  assert.ok(Date.now() - started >= 245, `answered after ${Date.now() - started} ms`);
  assert.deepEqual(payloadOf(out), { echo: { n: 1 } });
});

test('the SDK, left with its default retries, resends a throttled Invoke; each attempt is counted', async (t) => {
  const { lambda, events } = await start(t);
  lambda.faults.arm('throttle', 1);

  const out = await client(t, lambda.url, { maxAttempts: undefined }).send(invoke({ n: 1 }));

  assert.equal(out.$metadata.attempts, 2);
  assert.equal(events.length, 1);
  assert.deepEqual({ requests: lambda.stats().requests, failed: lambda.stats().failed }, { requests: 2, failed: 1 });
});

test('request payload: 6 MB (6291456 bytes) is accepted, one byte more is a RequestTooLargeException', async (t) => {
  const { lambda } = await start(t, {}, async (event) => (event as string).length);
  const sender = client(t, lambda.url);
  // A JSON string of exactly `size` bytes: the quotes plus size - 2 letters.
  const payloadOfSize = (size: number): Uint8Array => Buffer.from(`"${'a'.repeat(size - 2)}"`);

  const out = await sender.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, Payload: payloadOfSize(REQUEST_LIMIT) }));
  assert.equal(payloadOf(out), REQUEST_LIMIT - 2);
  await assert.rejects(
    sender.send(new InvokeCommand({ FunctionName: FUNCTION_NAME, Payload: payloadOfSize(REQUEST_LIMIT + 1) })),
    (error: unknown) =>
      error instanceof RequestTooLargeException &&
      error.$metadata.httpStatusCode === 413 &&
      error.message === 'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
  );
  assert.equal(lambda.stats().succeeded, 1);
});

test('response payload over Lambda\'s limit is the Function.ResponseSizeTooLarge function error', async (t) => {
  const { lambda } = await start(t, {}, async (event) => 'x'.repeat(event as number));
  const sender = client(t, lambda.url);

  // A JSON string result is its length plus the two quotes.
  const fits = await sender.send(invoke(RESPONSE_LIMIT - 2));
  assert.equal(fits.FunctionError, undefined);
  assert.equal(fits.Payload?.length, RESPONSE_LIMIT);
  const tooLarge = await sender.send(invoke(RESPONSE_LIMIT - 1));
  assert.equal(tooLarge.FunctionError, 'Unhandled');
  assert.deepEqual(payloadOf(tooLarge), {
    errorType: 'Function.ResponseSizeTooLarge',
    errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
  });
});

test('a payload that is not JSON is an InvalidRequestContentException, and the handler does not run', async (t) => {
  const { lambda, events } = await start(t);

  await assert.rejects(
    client(t, lambda.url).send(new InvokeCommand({ FunctionName: FUNCTION_NAME, Payload: Buffer.from('{"action":') })),
    (error: unknown) => error instanceof InvalidRequestContentException && /^Could not parse request body into json/.test(error.message),
  );
  assert.deepEqual(events, []);
});

test('invocation types other than RequestResponse are refused with InvalidParameterValueException', async (t) => {
  const { lambda, events } = await start(t);

  for (const type of ['Event', 'DryRun'] as const) {
    await assert.rejects(client(t, lambda.url).send(invoke({}, { InvocationType: type })), InvalidParameterValueException, type);
  }
  assert.deepEqual(events, []);
});

test('faults apply to valid requests only: an unknown function gets its 404 and leaves the fault armed', async (t) => {
  const { lambda } = await start(t);
  const sender = client(t, lambda.url);
  lambda.faults.arm('throttle', 1);

  await assert.rejects(sender.send(invoke({}, { FunctionName: 'other-function' })), ResourceNotFoundException);
  await assert.rejects(sender.send(invoke({})), TooManyRequestsException);
});

test('arms a fault from LOCAL_LAMBDA_FAULT and LOCAL_LAMBDA_FAULT_COUNT at start, and says so in the start line only', async (t) => {
  const lines: string[] = [];
  const { lambda } = await start(t, { env: { LOCAL_LAMBDA_FAULT: 'throttle', LOCAL_LAMBDA_FAULT_COUNT: '2' }, log: (line) => lines.push(line) });
  const sender = client(t, lambda.url);

  await assert.rejects(sender.send(invoke({ password: 'secret-1234' })), TooManyRequestsException);
  await assert.rejects(sender.send(invoke({ password: 'secret-1234' })), TooManyRequestsException);
  await sender.send(invoke({ password: 'secret-1234' }));

  assert.deepEqual(lines, [
    `local Lambda endpoint for function ${FUNCTION_NAME} listening on ${lambda.url}, function timeout 3000 ms, fault throttle armed for 2 request(s)`,
  ]);
});

test('refuses to start on an unknown fault or a bad count in the environment', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ LOCAL_LAMBDA_FAULT: 'function_error' }, /unknown fault "function_error"/],
    [{ LOCAL_LAMBDA_FAULT: 'hang', LOCAL_LAMBDA_FAULT_COUNT: '-1' }, /positive integer/],
  ];
  for (const [env, message] of cases) {
    const starting = startLocalLambdaEndpoint({ handler: async () => null, env });
    // Should one start after all, close it: a leaked server would keep the test run alive.
    t.after(() => starting.then((lambda) => lambda.close(), () => undefined));
    await assert.rejects(starting, message, JSON.stringify(env));
  }
});

test('the control routes arm and clear a fault and report the counters', async (t) => {
  const { lambda } = await start(t);
  const sender = client(t, lambda.url);
  const control = async (method: string, route: string, body?: unknown): Promise<[number, unknown]> => {
    const response = await fetch(`${lambda.url}/_control/${route}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return [response.status, await response.json()];
  };

  assert.deepEqual(await control('POST', 'fault', { fault: 'function-error' }), [200, { fault: 'function-error', remaining: null }]);
  assert.equal((await sender.send(invoke({}))).FunctionError, 'Unhandled');
  assert.equal((await sender.send(invoke({}))).FunctionError, 'Unhandled');
  assert.deepEqual(await control('DELETE', 'fault'), [200, { fault: null, remaining: null }]);
  assert.equal((await sender.send(invoke({}))).FunctionError, undefined);
  assert.deepEqual(await control('POST', 'fault', { fault: 'delay:10', count: 1 }), [200, { fault: 'delay:10', remaining: 1 }]);
  assert.equal((await control('POST', 'fault', { fault: 'slow' }))[0], 400);

  assert.deepEqual(await control('GET', 'stats'), [
    200,
    { requests: 3, succeeded: 1, functionErrors: 2, failed: 0, unanswered: 0, errors: {}, functionErrorTypes: { Error: 2 } },
  ]);
});

test('other operations are answered UnknownOperationException', async (t) => {
  const { lambda } = await start(t);

  const response = await fetch(`${lambda.url}/2015-03-31/functions/${FUNCTION_NAME}`);

  assert.equal(response.status, 404);
  assert.equal(response.headers.get('x-amzn-errortype'), 'UnknownOperationException');
  assert.equal(lambda.stats().requests, 0);
});

test('close() ends promptly while a request hangs and a handler never returns', { timeout: HANG_GUARD_MS }, async (t) => {
  const { lambda } = await start(t, { functionTimeoutMs: 60_000 }, () => new Promise(() => undefined));
  const sender = client(t, lambda.url);
  lambda.faults.arm('hang', 1);
  const hanging = sender.send(invoke({})).then(() => 'answered', (error: Error) => error.name);
  await until(() => lambda.stats().requests === 1, 'the hanging request');
  const running = sender.send(invoke({})).then(() => 'answered', (error: Error) => error.name);
  await until(() => lambda.stats().requests === 2, 'the running handler');

  const started = Date.now();
  await lambda.close();

  assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
  // The SDK reports a connection closed under it as a TimeoutError (ECONNRESET).
  assert.deepEqual(await Promise.all([hanging, running]), ['TimeoutError', 'TimeoutError']);
  assert.equal(lambda.stats().unanswered, 2);
});
