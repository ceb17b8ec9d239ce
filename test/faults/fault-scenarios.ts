/**
 * Every fault the relay must survive, as one list of scenarios: `faults.test.ts`
 * runs each as a test, `fault-report.ts` (`npm run test:faults`) runs them all and
 * prints the table. A scenario injects its fault through the stand-ins, drives
 * real SMTP sessions, and is then judged on three things:
 * - what the client was told (every reply is recorded, see FaultClient);
 * - what SES holds (the stand-in's outbox), against what the client was told
 *   (the ledger: nothing lost, duplicates counted);
 * - what the relay logged (its JSON log lines).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LambdaEndpointStats } from '../../relay/local/lambda-endpoint.ts';
import type { DynamoEndpointStats, DynamoFault } from '../../relay/local/embedded-dynamodb.ts';
import type { SesEndpointStats } from '../../relay/local/ses-endpoint.ts';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import type { SmtpReply } from '../support/smtp-dialogue.ts';
import { clearOfMinuteEnd } from '../support/until.ts';
import { FaultClient, markerOf, type FaultSession, type Transaction } from './fault-client.ts';
import { account, type HeldCopy, type LedgerRow } from './fault-ledger.ts';
import { startLocalRelayProcess } from './local-relay-process.ts';

export const USER = 'john@example.org';
export const PASSWORD = 'correct horse battery staple';
/** Granted to USER: MAIL FROM it needs a policy decision (the login itself does not). */
export const ALIAS = 'sales@example.org';

type LogLine = Record<string, unknown>;

/** What a scenario left behind, for its checks and the report. */
export interface PlayedScenario<F = unknown> {
  readonly transactions: readonly Transaction[];
  readonly held: readonly HeldCopy[];
  readonly log: readonly LogLine[];
  readonly facts: F;
  readonly row: LedgerRow;
  readonly ms: number;
}

export interface FaultScenario {
  /** The fault, as the report's first column names it. */
  readonly fault: string;
  /** Where a duplicate is still possible under this fault, and why; printed by the report. */
  readonly duplicateNote?: string;
  /** Starts what the scenario needs, injects the fault, drives the clients, and cleans up. */
  play(): Promise<PlayedScenario>;
  /** The scenario's own checks (exact replies, SES counts, log lines); throws an AssertionError. */
  check(played: PlayedScenario): void;
}

interface Driven<F> {
  readonly facts: F;
  readonly held: readonly HeldCopy[];
  readonly log: readonly LogLine[];
}

interface InProcessDefinition<F> {
  readonly fault: string;
  readonly duplicateNote?: string;
  readonly policyTransport?: 'direct' | 'lambda';
  /** Relay settings for this scenario (environment variable names). */
  readonly env?: Record<string, string>;
  run(relay: TestRelay, client: FaultClient): Promise<F>;
  verify(played: PlayedScenario<F>): void;
}

/** A scenario against the local stack in this process (startTestRelay), with USER owning ALIAS. */
function inProcess<F>(definition: InProcessDefinition<F>): FaultScenario {
  return scenario(definition, async () => {
    const relay = await startTestRelay({
      policyTransport: definition.policyTransport ?? 'direct',
      env: { ...definition.env },
    });
    try {
      await relay.addUser(USER, PASSWORD, [ALIAS]);
      const client = new FaultClient(relay.submissionPort, { login: USER, password: PASSWORD });
      const facts = await definition.run(relay, client);
      // The relay logs asynchronously (pino); give the last lines a moment.
      await sleep(50);
      return { client, facts, held: heldCopies(await relay.outbox()), log: relay.logLines() };
    } finally {
      await relay.close();
    }
  });
}

function scenario<F>(
  definition: { readonly fault: string; readonly duplicateNote?: string; verify(played: PlayedScenario<F>): void },
  drive: () => Promise<Driven<F> & { client: FaultClient }>,
): FaultScenario {
  return {
    fault: definition.fault,
    ...(definition.duplicateNote ? { duplicateNote: definition.duplicateNote } : {}),
    async play() {
      const started = performance.now();
      const { client, facts, held, log } = await drive();
      return {
        transactions: client.transactions,
        held,
        log,
        facts,
        row: account(client.transactions, held),
        ms: Math.round(performance.now() - started),
      };
    },
    check(played) {
      assert.equal(played.row.lost, 0, `lost messages:\n${played.row.losses.join('\n')}`);
      definition.verify(played as PlayedScenario<F>);
    },
  };
}

function heldCopies(outbox: ReadonlyArray<{ id: string; raw: Buffer; meta: { from?: string } }>): HeldCopy[] {
  return outbox.map(({ id, raw, meta }) => {
    const marker = markerOf(raw);
    return { id, ...(marker ? { marker } : {}), ...(meta.from ? { from: meta.from } : {}) };
  });
}

async function readOutbox(dir: string): Promise<HeldCopy[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.json')).sort();
  return heldCopies(
    await Promise.all(
      names.map(async (name) => {
        const id = name.slice(0, -'.json'.length);
        const [raw, meta] = await Promise.all([readFile(path.join(dir, `${id}.eml`)), readFile(path.join(dir, name), 'utf8')]);
        return { id, raw, meta: JSON.parse(meta) as { from?: string } };
      }),
    ),
  );
}

// ---- checks shared by the scenarios ----

function replyOf(played: PlayedScenario, index: number): SmtpReply {
  const reply = played.transactions[index]?.reply;
  assert.ok(reply, `attempt ${index + 1} got a reply`);
  return reply;
}

function assertReplies(played: PlayedScenario, expected: ReadonlyArray<RegExp | undefined>): void {
  assert.equal(played.transactions.length, expected.length, `attempts: ${JSON.stringify(played.transactions.map((t) => t.reply?.text))}`);
  expected.forEach((pattern, index) => {
    if (pattern === undefined) assert.equal(played.transactions[index]?.reply, undefined, `attempt ${index + 1} got no reply`);
    else assert.match(replyOf(played, index).text, pattern, `attempt ${index + 1} (${played.transactions[index]?.stage})`);
  });
}

function copiesOf(played: PlayedScenario, marker: string): HeldCopy[] {
  return played.held.filter((copy) => copy.marker === marker);
}

/** Every 250 names the copy SES holds, and the relay logged it as sent under that id. */
function assertDeliveredAndLogged(played: PlayedScenario): void {
  for (const t of played.transactions.filter((t) => t.reply?.code === 250)) {
    assert.ok(played.held.some((copy) => copy.id === t.queuedAs), `SES holds ${t.queuedAs}`);
    assert.ok(
      played.log.some((line) => line.event === 'sent' && line.sesMessageId === t.queuedAs),
      `the log has a "sent" line for ${t.queuedAs}`,
    );
  }
}

function rejects(played: PlayedScenario, stage: string, reason: string): LogLine[] {
  return played.log.filter((line) => line.event === 'reject' && line.stage === stage && line.reason === reason);
}

/** The relay logged this refusal, with its code and the private cause the client never sees. */
function assertRejectLogged(played: PlayedScenario, stage: string, reason: string, code: number, cause?: RegExp): void {
  const lines = rejects(played, stage, reason);
  assert.ok(lines.length > 0, `a reject line for ${stage} ${reason}; reject lines: ${JSON.stringify(played.log.filter((l) => l.event === 'reject'))}`);
  for (const line of lines) {
    assert.equal(line.code, code);
    if (cause) assert.match(String(line.cause), cause);
  }
}

/** The client was never shown the private cause (an AWS error name, a table name). */
function assertNoInternalsShown(played: PlayedScenario): void {
  for (const t of played.transactions) {
    assert.doesNotMatch(t.reply?.text ?? '', /Exception|relay-users|relay-counters|Timedout|Dynamo|Lambda|InternalFailure/i);
  }
}

// ---- SES ----

interface SesFacts {
  readonly duringFault: SesEndpointStats;
  readonly atEnd: SesEndpointStats;
}

/**
 * A temporary SES failure: the first attempt meets the fault, the client's
 * retry (after the fault cleared) goes through. `requests` is how many SendEmail
 * calls the relay must have made for the first attempt.
 */
function sesTemporary(options: {
  fault: string;
  arm: (relay: TestRelay) => void;
  reply: RegExp;
  reason: string;
  cause: RegExp;
  requests: number;
  stored: number;
  env?: Record<string, string>;
  duplicateNote?: string;
  extra?: (played: PlayedScenario<SesFacts>) => void;
}): FaultScenario {
  return inProcess<SesFacts>({
    fault: options.fault,
    ...(options.duplicateNote ? { duplicateNote: options.duplicateNote } : {}),
    ...(options.env ? { env: options.env } : {}),
    async run(relay, client) {
      options.arm(relay);
      await client.submit('m1');
      relay.stack.ses.faults.clear();
      const duringFault = relay.stack.ses.stats();
      await client.submit('m1');
      return { duringFault, atEnd: relay.stack.ses.stats() };
    },
    verify(played) {
      assertReplies(played, [options.reply, /^250 2\.0\.0 Ok: queued as /]);
      assert.equal(played.facts.duringFault.requests, options.requests, 'SendEmail calls for the first attempt');
      assert.equal(played.facts.duringFault.accepted, options.stored, 'messages SES stored during the fault');
      assertRejectLogged(played, 'DATA', options.reason, replyOf(played, 0).code, options.cause);
      assertDeliveredAndLogged(played);
      assertNoInternalsShown(played);
      options.extra?.(played);
    },
  });
}

const sesScenarios: FaultScenario[] = [
  inProcess<SesFacts>({
    fault: 'SES throttling, once (retried)',
    env: { SES_THROTTLE_RETRIES: '2' },
    async run(relay, client) {
      relay.stack.ses.faults.arm('throttle', 1);
      await client.submit('m1');
      const stats = relay.stack.ses.stats();
      return { duringFault: stats, atEnd: stats };
    },
    verify(played) {
      assertReplies(played, [/^250 2\.0\.0 Ok: queued as /]);
      // A throttled request was not sent, so the relay retried it: two calls, one message.
      assert.equal(played.facts.atEnd.requests, 2);
      assert.equal(played.facts.atEnd.accepted, 1);
      assert.equal(copiesOf(played, 'm1').length, 1);
      assert.equal(played.log.filter((line) => line.event === 'reject').length, 0);
      assertDeliveredAndLogged(played);
    },
  }),
  sesTemporary({
    fault: 'SES throttling, persistent',
    env: { SES_THROTTLE_RETRIES: '2' },
    arm: (relay) => relay.stack.ses.faults.arm('throttle'),
    reply: /^451 4\.4\.5 Sending rate exceeded, try again later$/,
    reason: 'ses-throttled',
    cause: /TooManyRequestsException|Maximum sending rate exceeded/,
    requests: 3,
    stored: 0,
  }),
  sesTemporary({
    fault: 'SES 5xx (500 InternalFailure)',
    arm: (relay) => relay.stack.ses.faults.arm('internal'),
    reply: /^451 4\.4\.0 /,
    reason: 'ses-error',
    cause: /InternalFailure|unknown error/,
    // Not retried: a 5xx may come after SES took the message.
    requests: 1,
    stored: 0,
  }),
  sesTemporary({
    fault: 'SES 5xx (503 ServiceUnavailable)',
    arm: (relay) => relay.stack.ses.faults.arm('unavailable'),
    reply: /^451 4\.4\.0 /,
    reason: 'ses-error',
    cause: /ServiceUnavailable|temporary failure/,
    requests: 1,
    stored: 0,
  }),
  sesTemporary({
    fault: 'SES timeout (no answer)',
    env: { SES_TIMEOUT_SECONDS: '1' },
    arm: (relay) => relay.stack.ses.faults.arm('timeout', 1),
    reply: /^451 4\.4\.1 No answer from the mail service, try again later$/,
    reason: 'ses-timeout',
    cause: /timeout|timed out/i,
    requests: 1,
    stored: 0,
  }),
  sesTemporary({
    fault: 'SES timeout after accepting',
    env: { SES_TIMEOUT_SECONDS: '1' },
    arm: (relay) => relay.stack.ses.faults.arm('timeout-after-accept', 1),
    reply: /^451 4\.4\.1 No answer from the mail service, try again later$/,
    reason: 'ses-timeout',
    cause: /timeout|timed out/i,
    requests: 1,
    stored: 1,
    duplicateNote:
      'SES stored the message but its answer never arrived. The relay cannot tell this from a request SES never got, ' +
      'so it answers 451 (a 250 would be a lie whenever SES did not get it) and does not retry itself; the client ' +
      'retries and SES sends a second copy. SES v2 SendEmail takes no idempotency token, so only SES could close this window.',
    extra(played) {
      // The duplicate window, exactly: one copy while the client held a 451, two after its retry.
      assert.equal(played.facts.duringFault.acceptedUnanswered, 1);
      assert.equal(copiesOf(played, 'm1').length, 2);
      assert.equal(played.row.duplicated, 1);
      assert.equal(played.row.lost, 0);
    },
  }),
  ...(
    [
      ['SES permanent rejection (MessageRejected)', 'reject', /^554 5\.6\.0 Message rejected by SES: Email address is not verified\. .*john@example\.org$/],
      ['SES permanent rejection (MAIL FROM domain)', 'mail-from-not-verified', /^554 5\.7\.1 Sender rejected by SES: /],
    ] as const
  ).map(([fault, sesFault, reply]) =>
    inProcess<SesEndpointStats>({
      fault,
      async run(relay, client) {
        relay.stack.ses.faults.arm(sesFault);
        // 5xx: the client gives up on this message (it bounces it to its user) and does not retry.
        await client.submit('m1');
        return relay.stack.ses.stats();
      },
      verify(played) {
        assertReplies(played, [reply]);
        assert.equal(played.facts.requests, 1, 'a permanent refusal is not retried');
        assert.equal(played.held.length, 0);
        assertRejectLogged(played, 'DATA', 'ses-rejected', 554);
      },
    }),
  ),
];

// ---- the policy: Lambda and DynamoDB ----

interface PolicyFacts {
  readonly lambda?: LambdaEndpointStats;
  readonly dynamo?: DynamoEndpointStats;
  /** How long the refused AUTH took, ms. */
  readonly authMs: number;
}

/**
 * The policy cannot decide: AUTH is refused 454 4.7.0; then, authenticated,
 * MAIL FROM an alias (which needs a decision) is refused 454 4.7.0; once the
 * fault clears the client's retry in the same session is delivered. The cache
 * is off, so that every question reaches the faulty backend.
 */
function policyUnavailable(options: {
  fault: string;
  policyTransport: 'direct' | 'lambda';
  env?: Record<string, string>;
  arm: (relay: TestRelay) => void;
  clear: (relay: TestRelay) => void;
  /** Only AUTH (when the same path at MAIL is shown by another scenario and this one is slow). */
  authOnly?: boolean;
  cause: RegExp;
  extra?: (played: PlayedScenario<PolicyFacts>) => void;
}): FaultScenario {
  return inProcess<PolicyFacts>({
    fault: options.fault,
    policyTransport: options.policyTransport,
    env: { POLICY_CACHE_SECONDS: '0', ...options.env },
    async run(relay, client) {
      options.arm(relay);
      const started = performance.now();
      await client.submit('m1', ALIAS);
      const authMs = performance.now() - started;
      options.clear(relay);
      const session = await client.openAuthenticated();
      try {
        if (!options.authOnly) {
          options.arm(relay);
          await session.transaction('m1', ALIAS);
          options.clear(relay);
        }
        await session.transaction('m1', ALIAS);
      } finally {
        await session.quit();
      }
      return {
        ...(relay.stack.lambda ? { lambda: relay.stack.lambda.stats() } : {}),
        ...(relay.stack.dynamo ? { dynamo: relay.stack.dynamo.stats() } : {}),
        authMs,
      };
    },
    verify(played) {
      const expected = [/^454 4\.7\.0 Temporary authentication failure$/];
      if (!options.authOnly) expected.push(/^454 4\.7\.0 Temporary failure checking the sender, try again later$/);
      assertReplies(played, [...expected, /^250 2\.0\.0 Ok: queued as /]);
      assert.equal(played.transactions[0]?.stage, 'AUTH');
      if (!options.authOnly) assert.equal(played.transactions[1]?.stage, 'MAIL');
      assertRejectLogged(played, 'AUTH', 'auth-unavailable', 454, options.cause);
      if (!options.authOnly) assertRejectLogged(played, 'MAIL', 'sender-unavailable', 454, options.cause);
      // A backend failure is not a wrong password: no auth-failed line, no penalty.
      assert.equal(played.log.filter((line) => line.event === 'auth-failed').length, 0);
      assert.equal(copiesOf(played, 'm1').length, 1);
      assertDeliveredAndLogged(played);
      assertNoInternalsShown(played);
      options.extra?.(played);
    },
  });
}

const armLambda = (fault: Parameters<NonNullable<TestRelay['stack']['lambda']>['faults']['arm']>[0], count?: number) => (relay: TestRelay) =>
  relay.stack.lambda!.faults.arm(fault, count);
const clearLambda = (relay: TestRelay) => relay.stack.lambda!.faults.clear();
const armDynamo = (fault: DynamoFault) => (relay: TestRelay) => relay.stack.dynamo!.faults.arm(fault);
const clearDynamo = (relay: TestRelay) => relay.stack.dynamo!.faults.clear();

const lambdaScenarios: FaultScenario[] = [
  policyUnavailable({
    fault: 'Lambda function error',
    policyTransport: 'lambda',
    arm: armLambda('function-error'),
    clear: clearLambda,
    cause: /policy function error \(Unhandled\): Error/,
    extra(played) {
      // Function errors come back as 200s: the SDK does not retry them, so one Invoke per refusal.
      assert.equal(played.facts.lambda?.functionErrors, 2);
    },
  }),
  policyUnavailable({
    fault: 'Lambda timeout (Task timed out)',
    policyTransport: 'lambda',
    // The modelled function timeout is 3 s; the relay's own Invoke timeout must be longer to see it.
    env: { POLICY_TIMEOUT_SECONDS: '5' },
    authOnly: true,
    arm: armLambda('timeout'),
    clear: clearLambda,
    cause: /policy function error \(Unhandled\): Sandbox\.Timedout/,
    extra(played) {
      assert.equal(played.facts.lambda?.functionErrorTypes['Sandbox.Timedout'], 1);
    },
  }),
  policyUnavailable({
    fault: 'Lambda hangs (relay Invoke timeout)',
    policyTransport: 'lambda',
    env: { POLICY_TIMEOUT_SECONDS: '0.5' },
    arm: armLambda('hang'),
    clear: clearLambda,
    cause: /TimeoutError|timed? ?out/i,
    extra(played) {
      // A decision is read-only, so the SDK tries twice before the relay answers 454: two hung Invokes per refusal.
      assert.equal(played.facts.lambda?.unanswered, 4);
      assert.ok(played.facts.authMs >= 1_000 && played.facts.authMs < 5_000, `AUTH answered after ${played.facts.authMs} ms`);
    },
  }),
  inProcess<LambdaEndpointStats>({
    fault: 'Lambda hangs once (retried)',
    policyTransport: 'lambda',
    env: { POLICY_TIMEOUT_SECONDS: '0.5', POLICY_CACHE_SECONDS: '0' },
    async run(relay, client) {
      relay.stack.lambda!.faults.arm('hang', 1);
      await client.submit('m1');
      return relay.stack.lambda!.stats();
    },
    verify(played) {
      assertReplies(played, [/^250 2\.0\.0 Ok: queued as /]);
      assert.equal(played.facts.unanswered, 1);
      assert.equal(played.log.filter((line) => line.event === 'reject').length, 0);
      assertDeliveredAndLogged(played);
    },
  }),
];

const dynamoScenarios: FaultScenario[] = [
  ...(['direct', 'lambda'] as const).flatMap((transport) => [
    policyUnavailable({
      fault: `DynamoDB throttling (policy ${transport})`,
      policyTransport: transport,
      arm: armDynamo('throttle@relay-users'),
      clear: clearDynamo,
      // Through Lambda, the SDK's throttling back-off (about 3-4 s over four tries) may outlast the modelled 3 s function timeout.
      cause: transport === 'direct' ? /ProvisionedThroughputExceededException|provisioned throughput/ : /policy function error \(Unhandled\)/,
      extra(played) {
        assert.ok((played.facts.dynamo?.faults.throttle ?? 0) >= 2, 'the users table was throttled');
      },
    }),
    policyUnavailable({
      fault: `DynamoDB 500 (policy ${transport})`,
      policyTransport: transport,
      arm: armDynamo('internal@relay-users'),
      clear: clearDynamo,
      cause: transport === 'direct' ? /InternalServerError|Internal server error/ : /policy function error \(Unhandled\): InternalServerError/,
      extra(played) {
        assert.ok((played.facts.dynamo?.faults.internal ?? 0) >= 2, 'the users table failed');
      },
    }),
  ]),
  inProcess<DynamoEndpointStats>({
    fault: 'DynamoDB throttling, once (SDK retry)',
    env: { POLICY_CACHE_SECONDS: '0' },
    async run(relay, client) {
      relay.stack.dynamo!.faults.arm('throttle@relay-users', 1);
      await client.submit('m1', ALIAS);
      return relay.stack.dynamo!.stats();
    },
    verify(played) {
      assertReplies(played, [/^250 2\.0\.0 Ok: queued as /]);
      assert.equal(played.facts.faults.throttle, 1);
      assertDeliveredAndLogged(played);
    },
  }),
  inProcess<DynamoEndpointStats>({
    fault: 'DynamoDB 500 on the sending counters (fail-closed, the default)',
    // A limit of 12 a minute over 6 assumed tasks: each task lets 2 a minute through while the counters are down.
    env: { DEFAULT_MESSAGES_PER_MINUTE: '12', QUOTA_FALLBACK_TASKS: '6' },
    async run(relay, client) {
      await clearOfMinuteEnd();
      relay.stack.dynamo!.faults.arm('internal@relay-counters');
      for (const marker of ['m1', 'm2', 'm3']) await client.submit(marker);
      relay.stack.dynamo!.faults.clear();
      await client.submit('m3');
      return relay.stack.dynamo!.stats();
    },
    verify(played) {
      assertReplies(played, [
        /^250 2\.0\.0 Ok: queued as /,
        /^250 2\.0\.0 Ok: queued as /,
        /^451 4\.7\.1 Error: sending limits cannot be checked now, try again later$/,
        /^250 2\.0\.0 Ok: queued as /,
      ]);
      assert.equal(played.transactions[2]?.stage, 'MAIL');
      assert.ok((played.facts.faults.internal ?? 0) >= 3);
      assertRejectLogged(played, 'MAIL', 'quota-unavailable', 451, /InternalServerError|Internal server error/);
      const local = played.log.filter((line) => line.event === 'quota-unavailable');
      assert.ok(local.length >= 2 && local.every((line) => line.counted === 'locally'), 'the log says what was counted locally');
      assertDeliveredAndLogged(played);
      assertNoInternalsShown(played);
    },
  }),
  inProcess<DynamoEndpointStats>({
    fault: 'DynamoDB hangs on the sending counters (fail-closed)',
    async run(relay, client) {
      relay.stack.dynamo!.faults.arm('hang@relay-counters');
      await client.submit('m1');
      return relay.stack.dynamo!.stats();
    },
    verify(played) {
      // The counters client gives up within seconds; the message is counted against this task's fallback share.
      assertReplies(played, [/^250 2\.0\.0 Ok: queued as /]);
      assert.ok((played.facts.faults.hang ?? 0) >= 2);
      const logged = played.log.filter((line) => line.event === 'quota-unavailable');
      assert.ok(logged.length >= 2 && logged.every((line) => line.counted === 'locally'));
      assert.match(String(logged[0]?.cause), /timeout|timed out/i);
      assertDeliveredAndLogged(played);
    },
  }),
  inProcess<DynamoEndpointStats>({
    fault: 'DynamoDB 500 on the sending counters (QUOTA_UNAVAILABLE=fail-open)',
    env: { DEFAULT_MESSAGES_PER_MINUTE: '12', QUOTA_FALLBACK_TASKS: '6', QUOTA_UNAVAILABLE: 'fail-open' },
    async run(relay, client) {
      relay.stack.dynamo!.faults.arm('internal@relay-counters');
      for (const marker of ['m1', 'm2', 'm3']) await client.submit(marker);
      return relay.stack.dynamo!.stats();
    },
    verify(played) {
      // Explicitly chosen: an unreachable counter lets mail through, past the fallback share too, logged.
      assertReplies(played, [/^250 2\.0\.0 Ok: queued as /, /^250 2\.0\.0 Ok: queued as /, /^250 2\.0\.0 Ok: queued as /]);
      assert.ok((played.facts.faults.internal ?? 0) >= 3);
      const logged = played.log.filter((line) => line.event === 'quota-unavailable');
      assert.ok(logged.length >= 3, 'the log says the quota could not be counted');
      assert.ok(logged.every((line) => line.counted === 'uncounted'));
      assert.match(String(logged[0]?.cause), /InternalServerError|Internal server error/);
      assertDeliveredAndLogged(played);
    },
  }),
];

// ---- the client, and the relay itself ----

interface DisconnectFacts {
  readonly sesRequestsAfterDisconnect: number;
  readonly sessionId: string | undefined;
}

const clientScenarios: FaultScenario[] = [
  inProcess<DisconnectFacts>({
    fault: 'client disconnects mid-DATA',
    async run(relay, client) {
      const session = await client.openAuthenticated();
      assert.equal(await session.envelope('m1'), undefined);
      assert.equal((await session.smtp.command('DATA')).code, 354);
      session.smtp.write('From: <john@example.org>\r\nSubject: fault test m1\r\nMessage-ID: <m1@fault.test>\r\n\r\nhalf a bo');
      await sleep(100);
      session.smtp.close();
      client.record({ message: 'm1', stage: 'DATA' });
      await waitFor(() => relay.logLines().some((line) => line.event === 'disconnect' && line.login === USER), 3_000);
      const sessionId = relay.logLines().find((line) => line.event === 'auth' && line.login === USER)?.session as string | undefined;
      const sesRequestsAfterDisconnect = relay.stack.ses.stats().requests;
      // No 250: the client sends the message again when it is back.
      await client.submit('m1');
      return { sesRequestsAfterDisconnect, sessionId };
    },
    verify(played) {
      assertReplies(played, [undefined, /^250 2\.0\.0 Ok: queued as /]);
      assert.equal(played.facts.sesRequestsAfterDisconnect, 0, 'nothing of the half message reached SES');
      assert.equal(copiesOf(played, 'm1').length, 1);
      const session = played.facts.sessionId;
      assert.ok(session);
      const ofSession = played.log.filter((line) => line.session === session);
      assert.ok(ofSession.some((line) => line.event === 'disconnect'), 'the log has the disconnect');
      assert.ok(!ofSession.some((line) => line.event === 'sent'), 'and no "sent" for that session');
      assertDeliveredAndLogged(played);
    },
  }),
  sigtermScenario(),
  inProcess<{ readonly closeMs: number; readonly storedAtReply: number }>({
    fault: 'shutdown grace shorter than an SES call',
    duplicateNote:
      'The grace ran out while SES was still answering: the client was told 421 4.3.2 (it retries elsewhere) for a ' +
      'message SES then accepted. Keep SHUTDOWN_GRACE_SECONDS above the longest SES call, (SES_THROTTLE_RETRIES + 1) x ' +
      'SES_TIMEOUT_SECONDS plus back-off (defaults: 100 s against 3 x 30 s); a shorter grace reopens this window.',
    async run(relay, client) {
      relay.stack.ses.faults.arm('delay:1500', 1);
      const session = await client.openAuthenticated();
      assert.equal(await session.envelope('m1'), undefined);
      assert.equal((await session.smtp.command('DATA')).code, 354);
      session.smtp.write(`From: <${USER}>\r\nSubject: fault test m1\r\nMessage-ID: <m1@fault.test>\r\n\r\nslow SES\r\n.\r\n`);
      await waitFor(() => relay.stack.ses.stats().requests >= 1, 5_000);
      const started = performance.now();
      const closing = relay.stack.relay.close(300);
      await session.readDataReply('m1');
      const storedAtReply = relay.stack.ses.stats().accepted;
      await closing;
      const closeMs = Math.round(performance.now() - started);
      // The SES call goes on after the relay stopped listening; let it finish, as real SES would.
      await waitFor(() => relay.stack.ses.stats().accepted >= 1, 5_000);
      return { closeMs, storedAtReply };
    },
    verify(played) {
      assertReplies(played, [/^421 4\.3\.2 relay\.test Service shutting down, try again later$/]);
      assert.equal(played.facts.storedAtReply, 0, 'told 421 before SES answered');
      assert.equal(copiesOf(played, 'm1').length, 1, 'and then SES accepted it');
      assert.ok(played.facts.closeMs < 1_500, `the relay stopped after its grace (${played.facts.closeMs} ms), not after SES`);
      assert.equal(played.row.lost, 0);
      assert.equal(played.row.duplicateRisks.length, 1);
    },
  }),
];

interface SigtermFacts {
  readonly exitCode: number | string;
  /** From SIGTERM to exit. */
  readonly exitMs: number;
  readonly graceMs: number;
  /** From SIGTERM to the idle session's 421. */
  readonly idleClosedMs: number;
  readonly idleReply: SmtpReply | undefined;
  /** The replies to the command after a finished transaction, per session. */
  readonly afterwards: Record<string, SmtpReply | undefined>;
  readonly newConnection: 'refused' | 'accepted';
  readonly stderr: string;
}

/**
 * SIGTERM to `npm start` while: A is inside DATA (the client still sending), B
 * has finished DATA and waits for a slow SES, C is authenticated and idle, D is
 * between RCPT and DATA. A, B and D finish their transactions; C is told 421 at
 * once; the next command of A and D gets 421; the process exits 0 within the grace.
 */
function sigtermScenario(): FaultScenario {
  const GRACE_SECONDS = 4;
  const definition = {
    fault: 'SIGTERM with messages in flight',
    verify(played: PlayedScenario<SigtermFacts>) {
      const { facts } = played;
      const byMarker = (marker: string) => played.transactions.find((t) => t.message === marker);
      for (const marker of ['a', 'b', 'd']) {
        assert.match(byMarker(marker)?.reply?.text ?? 'no reply', /^250 2\.0\.0 Ok: queued as /, `session ${marker.toUpperCase()}`);
        assert.equal(copiesOf(played, marker).length, 1, `SES holds ${marker} once`);
      }
      assert.match(facts.idleReply?.text ?? 'no reply', /^421 4\.3\.2 relay\.test Service shutting down, try again later$/);
      assert.ok(facts.idleClosedMs < 1_000, `the idle session was told at once (${facts.idleClosedMs} ms)`);
      for (const session of ['a', 'd']) {
        assert.match(facts.afterwards[session]?.text ?? 'no reply', /^421 4\.3\.2 /, `the next command of ${session.toUpperCase()}`);
      }
      assert.equal(facts.newConnection, 'refused', 'no new connection is taken once draining');
      assert.equal(facts.exitCode, 0);
      assert.ok(facts.exitMs < facts.graceMs + 1_500, `exited ${facts.exitMs} ms after SIGTERM (grace ${facts.graceMs} ms)`);
      assert.match(facts.stderr, /SIGTERM: stopping/);
      assertDeliveredAndLogged(played);
    },
  };
  return scenario<SigtermFacts>(definition, async () => {
    const relay = await startLocalRelayProcess({ SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS) });
    try {
      await relay.addUser(USER, PASSWORD, [ALIAS]);
      const client = new FaultClient(relay.submissionPort, { login: USER, password: PASSWORD });
      const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => client.openAuthenticated())) as [FaultSession, FaultSession, FaultSession, FaultSession];

      // A: inside DATA, half the message sent.
      assert.equal(await a.envelope('a'), undefined);
      assert.equal((await a.smtp.command('DATA')).code, 354);
      const messageA = 'From: <john@example.org>\r\nTo: <someone@example.net>\r\nSubject: fault test a\r\nMessage-ID: <a@fault.test>\r\n\r\nfirst half, ';
      a.smtp.write(messageA);
      // B: whole message sent, SES slow to answer (1.5 s), so the SendEmail call is in flight at SIGTERM.
      await control(relay.sesUrl, { fault: 'delay:1500', count: 1 });
      assert.equal(await b.envelope('b'), undefined);
      assert.equal((await b.smtp.command('DATA')).code, 354);
      b.smtp.write('From: <john@example.org>\r\nSubject: fault test b\r\nMessage-ID: <b@fault.test>\r\n\r\nb\r\n.\r\n');
      await waitFor(async () => ((await sesStats(relay.sesUrl)).requests as number) >= 1, 5_000);
      // D: envelope done, DATA not yet sent.
      assert.equal(await d.envelope('d'), undefined);

      const signalled = performance.now();
      relay.child.kill('SIGTERM');
      const exited = relay.exited().then((code) => ({ code, ms: performance.now() - signalled }));

      const idleReply = await c.smtp.read(2_000).catch(() => undefined);
      const idleClosedMs = performance.now() - signalled;
      await c.smtp.waitClosed(2_000);
      const newConnection = await new Promise<'refused' | 'accepted'>((resolve) => {
        const socket = net.connect(relay.submissionPort, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve('accepted')));
        socket.once('error', () => resolve('refused'));
      });

      a.smtp.write('second half.\r\n.\r\n');
      const [doneA, , doneD] = await Promise.all([a.readDataReply('a'), b.readDataReply('b'), d.data('d')]);
      const afterwards: Record<string, SmtpReply | undefined> = {};
      for (const [name, session, done] of [['a', a, doneA], ['d', d, doneD]] as const) {
        if (done.reply?.code === 250) afterwards[name] = await session.smtp.command(`MAIL FROM:<${USER}>`, 2_000).catch(() => undefined);
      }
      for (const session of [a, b, c, d]) await session.quit();
      const { code, ms } = await exited;
      return {
        client,
        facts: {
          exitCode: code,
          exitMs: Math.round(ms),
          graceMs: GRACE_SECONDS * 1000,
          idleClosedMs: Math.round(idleClosedMs),
          idleReply,
          afterwards,
          newConnection,
          stderr: relay.stderr(),
        },
        held: await readOutbox(relay.outboxDir),
        log: relay.logLines(),
      };
    } finally {
      await relay.dispose();
    }
  });
}

async function control(baseUrl: string, fault: { fault: string; count?: number }): Promise<void> {
  const response = await fetch(`${baseUrl}/_control/fault`, { method: 'POST', body: JSON.stringify(fault) });
  if (!response.ok) throw new Error(`arming ${fault.fault}: ${response.status} ${await response.text()}`);
}

async function sesStats(baseUrl: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${baseUrl}/_control/stats`)).json()) as Record<string, unknown>;
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Every fault scenario, in the order of the report. */
export const FAULT_SCENARIOS: readonly FaultScenario[] = [...sesScenarios, ...lambdaScenarios, ...dynamoScenarios, ...clientScenarios];
