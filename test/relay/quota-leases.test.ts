import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RunningRelay } from '../../relay/relay-server.ts';
import { LOCAL_COUNTERS_TABLE } from '../../relay/local/embedded-dynamodb.ts';
import { connectAuthenticated, startTestRelay, startTwinRelay, type TestRelay } from '../support/relay-fixture.ts';
import { clearOfMinuteEnd } from '../support/until.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

const quotaWrites = (relay: TestRelay) => relay.stack.dynamo!.stats().operationsByTable[LOCAL_COUNTERS_TABLE]?.UpdateItem ?? 0;

describe('quota leases: per-user limits shared by all tasks, at most 0.1 counter writes a message', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { DEFAULT_MESSAGES_PER_MINUTE: '100000', DEFAULT_RECIPIENTS_PER_DAY: '1000000' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('300 messages through a pooled client cost at most 30 UpdateItem calls (both limits counted)', async (t) => {
    const transport = relay.transport({ user: USER, pass: PASSWORD }, { pool: true });
    const before = quotaWrites(relay);
    try {
      for (let batch = 0; batch < 30; batch++) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            transport.sendMail({ from: USER, to: `r${batch}-${i}@example.net`, subject: 'lease', text: 'hello' }),
          ),
        );
      }
    } finally {
      transport.close();
    }
    const writes = quotaWrites(relay) - before;
    t.diagnostic(`${writes} quota writes for 300 messages (${(writes / 300).toFixed(3)} a message)`);
    assert.ok(writes <= 30, `${writes} writes`);
  });
});

describe('a limit leased by two tasks holds exactly', () => {
  let relay: TestRelay;
  let twin: RunningRelay;
  before(async () => {
    relay = await startTestRelay({ env: { DEFAULT_MESSAGES_PER_MINUTE: '40', DEFAULT_RECIPIENTS_PER_DAY: '0' } });
    await relay.addUser(USER, PASSWORD);
    twin = await startTwinRelay(relay, { DEFAULT_MESSAGES_PER_MINUTE: '40', DEFAULT_RECIPIENTS_PER_DAY: '0' });
  });
  after(async () => {
    await twin.close();
    await relay.close();
  });

  test('MAIL on either task in turn: 40 accepted in all, then 450 4.7.1 on both, with far fewer writes than messages', async () => {
    await clearOfMinuteEnd();
    const sessions = [await connectAuthenticated(relay, USER, PASSWORD), await connectAuthenticated(twin, USER, PASSWORD)];
    const before = quotaWrites(relay);
    const accepted = [0, 0];
    const refused = [false, false];
    while (!refused[0] || !refused[1]) {
      for (const [task, smtp] of sessions.entries()) {
        if (refused[task]) continue;
        const reply = await smtp.command(`MAIL FROM:<${USER}>`);
        if (reply.code === 250) accepted[task]!++;
        else {
          assert.equal(reply.text, '450 4.7.1 Error: sending rate limit reached (40 messages a minute), try again later');
          refused[task] = true;
        }
        await smtp.command('RSET');
      }
    }
    const writes = quotaWrites(relay) - before;
    // The counter never passes the limit, and once both tasks have spent what they leased nothing is left stranded.
    assert.equal(accepted[0]! + accepted[1]!, 40, `accepted ${accepted.join(' + ')}`);
    assert.ok(writes < 20, `${writes} writes for 40 messages`);
    for (const smtp of sessions) smtp.close();
  });
});

describe('a limit lowered within the window holds at once', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { DEFAULT_MESSAGES_PER_MINUTE: '40', DEFAULT_RECIPIENTS_PER_DAY: '0', POLICY_CACHE_SECONDS: '0' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('what was leased under the higher limit is not spent past the lower one', async () => {
    await clearOfMinuteEnd();
    const mailFrom = async (smtp: Awaited<ReturnType<typeof connectAuthenticated>>) => {
      const reply = await smtp.command(`MAIL FROM:<${USER}>`);
      await smtp.command('RSET');
      return reply.text;
    };
    const before = await connectAuthenticated(relay, USER, PASSWORD);
    // Leases of 1, 2, 4 and 5: 12 leased, 10 spent, 2 left on this task.
    for (let i = 0; i < 10; i++) assert.equal(await mailFrom(before), '250 2.1.0 Accepted');
    before.close();
    await relay.stack.store.updateUser(USER, { settings: { limits: { messagesPerMinute: 10 } } });
    const after = await connectAuthenticated(relay, USER, PASSWORD);
    assert.equal(await mailFrom(after), '450 4.7.1 Error: sending rate limit reached (10 messages a minute), try again later');
    after.close();
  });
});
