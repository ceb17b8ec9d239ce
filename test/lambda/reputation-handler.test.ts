import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createReputationHandler, type EventBridgeSesEvent } from '../../lambda/reputation-handler.ts';
import { DEFAULT_REPUTATION_THRESHOLDS, judgeReputation, percent, stageThresholdsFrom, EMPTY_COUNTS } from '../../lambda/reputation-policy.ts';
import { ReputationStore } from '../../lambda/reputation-store.ts';
import { UserStore } from '../../lambda/user-store.ts';
import { localDynamoDbClient, startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';
import { ensureLocalTables } from '../../relay/local/local-tables.ts';
import { simulatedEvents } from '../../relay/local/ses-mailbox-simulator.ts';

const T0 = new Date('2026-12-05T10:15:00Z');
const HOUR = 3_600_000;

/** The handler against dynalite through the real DynamoDB client, with events as SES publishes them. */
describe('reputation handler over DynamoDB (dynalite)', () => {
  let dynamo: EmbeddedDynamoDb;
  let users: UserStore;
  let reputation: ReputationStore;
  let clock = T0;
  const logged: Array<Record<string, unknown>> = [];
  const log = { info: (fields: Record<string, unknown>) => void logged.push(fields), warn: (fields: Record<string, unknown>) => void logged.push(fields) };
  let handle: ReturnType<typeof createReputationHandler>;

  before(async () => {
    dynamo = await startEmbeddedDynamoDb(undefined);
    const client = localDynamoDbClient(dynamo.endpoint);
    await ensureLocalTables(client, { users: 'users', counters: 'counters', reputation: 'reputation' });
    users = new UserStore(client, 'users');
    reputation = new ReputationStore(client, 'reputation');
    handle = createReputationHandler({
      reputation,
      users,
      thresholds: stageThresholdsFrom(JSON.stringify({ minimumSent: 10, bounceRate: { warn: 0.1, throttle: 0.2, suspend: 0.3 } })),
      log,
      now: () => clock,
    });
  });
  after(() => dynamo.close());

  let sequence = 0;
  /** The events SES would publish for one message of `userId` to `to`, sent at `at`. */
  const eventsFor = (userId: string, to: readonly string[], at = T0): EventBridgeSesEvent[] =>
    simulatedEvents({
      messageId: `0100${(sequence++).toString(16).padStart(12, '0')}-${randomUUID()}-000000`,
      receivedAt: at.toISOString(),
      from: 'app@example.org',
      destinations: to,
      tags: [{ name: 'relay-user', value: userId }],
      raw: Buffer.from(`Message-ID: <m${sequence}@example.org>\r\nSubject: x\r\n\r\nhello\r\n`),
      region: 'EU-WEST-1',
    });

  test('duplicate and out-of-order events are counted once, whatever EventBridge id they come with', async () => {
    const user = await users.createUser('dup@example.org', 'x');
    const events = [
      ...eventsFor(user.userId!, ['success@simulator.amazonses.com', 'bounce@simulator.amazonses.com']),
      ...eventsFor(user.userId!, ['complaint@simulator.amazonses.com']),
    ];
    // Outcomes before their Send, every event twice, the second copy redelivered under a new EventBridge id.
    const shuffled = [...events].reverse();
    const outcomes = [];
    for (const event of [...shuffled, ...shuffled.map((e) => ({ ...e, id: randomUUID() })), ...shuffled]) outcomes.push((await handle(event)).outcome);
    assert.deepEqual(outcomes.filter((o) => o === 'counted').length, events.length);
    assert.deepEqual(outcomes.filter((o) => o === 'duplicate').length, events.length * 2);
    const windows = await reputation.windows(user.userId!, T0);
    assert.deepEqual(windows['24 h'], { ...EMPTY_COUNTS, sent: 3, delivered: 2, hardBounces: 1, complaints: 1 });
    assert.deepEqual(windows['7 days'], windows['24 h']);
    const [message] = await reputation.findMessages(String((events[0]!.detail as { mail: { messageId: string } }).mail.messageId));
    assert.deepEqual(message!.trail.map((entry) => entry.type), ['Send', 'Delivery', 'Bounce'], 'the trail in the order things happened, each once');
  });

  test('a count that fails halfway is undone, so the retry counts it (once)', async () => {
    const user = await users.createUser('retry@example.org', 'x');
    const [send] = eventsFor(user.userId!, ['success@simulator.amazonses.com']);
    // Every UpdateItem fails (the SDK's own retries included) until the fault is cleared.
    dynamo.faults.arm('internal@UpdateItem');
    await assert.rejects(handle(send!));
    dynamo.faults.clear();
    assert.equal((await handle(send!)).outcome, 'counted');
    assert.equal((await handle(send!)).outcome, 'duplicate');
    assert.equal((await reputation.windows(user.userId!, T0))['24 h'].sent, 1);
  });

  test('windows: the 24 h window forgets what the 7-day one remembers; a bounce is judged against its own window', async () => {
    const user = await users.createUser('old@example.org', 'x');
    for (let i = 0; i < 4; i++) for (const event of eventsFor(user.userId!, ['bounce@simulator.amazonses.com'], new Date(T0.getTime() - 48 * HOUR))) await handle(event);
    const windows = await reputation.windows(user.userId!, T0);
    assert.equal(windows['24 h'].sent, 0);
    assert.equal(windows['7 days'].hardBounces, 4);
    assert.equal((await users.getUser('old@example.org'))!.restriction, undefined, '4 recipients are under the minimum volume of 10');
  });

  test('suspended stays suspended until reinstated; after reinstatement only the hours after it count', async () => {
    const user = await users.createUser('bad@example.org', 'x');
    for (let i = 0; i < 10; i++) for (const event of eventsFor(user.userId!, ['bounce@simulator.amazonses.com'])) await handle(event);
    const suspended = await users.getUser('bad@example.org');
    assert.equal(suspended!.restriction?.state, 'suspended');
    assert.equal(suspended!.restriction?.by, 'reputation');
    // More good mail does not lift a suspension.
    for (let i = 0; i < 30; i++) for (const event of eventsFor(user.userId!, ['success@simulator.amazonses.com'])) await handle(event);
    for (const event of eventsFor(user.userId!, ['bounce@simulator.amazonses.com'])) await handle(event);
    assert.equal((await users.getUser('bad@example.org'))!.restriction?.state, 'suspended');

    await users.reinstateUser('bad@example.org', 'ops@example.org', 'list cleaned');
    clock = new Date(T0.getTime() + HOUR);
    for (const event of eventsFor(user.userId!, ['bounce@simulator.amazonses.com'], clock)) await handle(event);
    assert.equal((await users.getUser('bad@example.org'))!.restriction, undefined, 'the old bounces no longer count');
    assert.equal((await reputation.getState(user.userId!))!.step, 'none');
    assert.ok(logged.some((line) => line.event === 'reputation-reinstated' && line.login === 'bad@example.org'));
    clock = T0;
  });

  test('a user over their own thresholds is judged by them, not the stage’s', async () => {
    const user = await users.createUser('strict@example.org', 'x');
    await users.updateUser('strict@example.org', { settings: { reputation: { minimumSent: 2, bounceRate: { warn: 0.5, throttle: 0.9, suspend: 1 } } } });
    for (const event of eventsFor(user.userId!, ['success@simulator.amazonses.com', 'bounce@simulator.amazonses.com'])) await handle(event);
    assert.equal((await users.getUser('strict@example.org'))!.restriction?.state, 'warned');
  });

  test('what is not an SES sending event is ignored; an event without relay-user is kept in the trail and counted for nobody', async () => {
    assert.equal((await handle({ detail: { eventType: 'Open', mail: {} } })).outcome, 'ignored');
    assert.equal((await handle({ detail: 'garbage' })).outcome, 'ignored');
    assert.equal((await handle({ detail: { eventType: 'Bounce', mail: { messageId: 'x', timestamp: T0.toISOString() } } })).outcome, 'ignored', 'a bounce without its bounce object');
    const [send] = simulatedEvents({ messageId: 'untagged-1', receivedAt: T0.toISOString(), destinations: ['a@example.net'], tags: [], raw: Buffer.from('\r\n'), region: 'EU-WEST-1' });
    assert.equal((await handle(send!)).outcome, 'counted');
    assert.equal((await reputation.findMessages('untagged-1'))[0]!.userId, undefined);
  });
});

describe('reputation policy', () => {
  const counts = (sent: number, hardBounces: number, complaints = 0) => ({ ...EMPTY_COUNTS, sent, hardBounces, complaints });
  test('defaults sit below SES review levels, and nothing is judged under the minimum volume', () => {
    assert.ok(DEFAULT_REPUTATION_THRESHOLDS.bounceRate.suspend < 0.05);
    assert.ok(DEFAULT_REPUTATION_THRESHOLDS.complaintRate.suspend < 0.001);
    assert.deepEqual(judgeReputation({ '24 h': counts(99, 99), '7 days': counts(99, 99) }, DEFAULT_REPUTATION_THRESHOLDS), { step: 'none' });
  });
  test('the worst rate of either window sets the step and names itself', () => {
    const verdict = judgeReputation({ '24 h': counts(1000, 25), '7 days': counts(10000, 30, 9) }, DEFAULT_REPUTATION_THRESHOLDS);
    assert.deepEqual(verdict, { step: 'suspended', reason: 'complaint rate 0.09 % over the last 7 days (9 of 10000 recipients; suspended at 0.08 %)' });
    assert.equal(judgeReputation({ '24 h': counts(1000, 25), '7 days': counts(1000, 25) }, DEFAULT_REPUTATION_THRESHOLDS).step, 'warned');
  });
  test('stage thresholds are checked: a bad REPUTATION_THRESHOLDS names its field', () => {
    assert.throws(() => stageThresholdsFrom('{"bounceRate":{"warn":0.5,"throttle":0.1,"suspend":0.2}}'), /bounceRate/);
    assert.throws(() => stageThresholdsFrom('{"minimumSnet":5}'), /minimumSnet/);
    assert.equal(percent(0.071), '7.1 %');
    assert.equal(percent(0.0008), '0.08 %');
  });
});
