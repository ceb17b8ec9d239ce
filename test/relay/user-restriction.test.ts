import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { UserRestriction } from '../../lambda/user-store.ts';
import { connectAuthenticated, connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { plainToken } from '../support/smtp-dialogue.ts';

const PASSWORD = 'correct horse battery staple';
const REPLY_MS = 30_000;

/**
 * What a restriction does to a user's sending, in one relay: throttled cuts
 * messages per minute in a session already open, warned changes nothing, and a
 * suspension's reason (stored text) cannot break the reply it is quoted in.
 */
describe('user restrictions in the relay', () => {
  let relay: TestRelay;

  before(async () => {
    relay = await startTestRelay({ env: { REVOCATION_POLL_MS: '200', SUSPENSION_CONTACT: 'help@example.org' } });
  });
  after(() => relay.close());

  const restrict = (login: string, restriction: Omit<UserRestriction, 'since' | 'by'>) =>
    relay.stack.store.restrictUser(login, { ...restriction, since: new Date().toISOString(), by: 'reputation' });

  /** Waits until the relay applied the n-th change of `login` from its feed. */
  async function applied(login: string, count: number): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (relay.logLines().filter((line) => line.event === 'user-change' && line.login === login).length < count) {
      assert.ok(Date.now() < deadline, `change ${count} of ${login} not applied`);
      await sleep(20);
    }
  }

  test('throttled: an open session gets the cut at its next MAIL; warned: nothing changes', async (t) => {
    const login = 'throttled@example.org';
    await relay.addUser(login, PASSWORD);
    const smtp = await connectAuthenticated(relay, login, PASSWORD);
    t.after(() => smtp.close());
    const mails = async (n: number) => {
      const codes: string[] = [];
      for (let i = 0; i < n; i++) {
        const reply = await smtp.command(`MAIL FROM:<${login}>`, REPLY_MS);
        codes.push(reply.text);
        if (reply.code === 250) await smtp.command('RSET', REPLY_MS);
      }
      return codes;
    };
    assert.deepEqual((await mails(2)).map((text) => text.slice(0, 3)), ['250', '250']);

    await restrict(login, { state: 'warned', reason: 'bounce rate 3.2 %' });
    await applied(login, 1);
    assert.deepEqual((await mails(2)).map((text) => text.slice(0, 3)), ['250', '250'], 'a warning changes nothing for sending');

    await restrict(login, { state: 'throttled', reason: 'bounce rate 5 %', messagesPerMinute: 1 });
    await applied(login, 2);
    // Four MAILs within a minute's boundary at most once: at least one is over one a minute.
    const replies = await mails(4);
    assert.ok(
      replies.some((text) => text === '450 4.7.1 Error: sending rate limit reached (1 messages a minute), try again later'),
      replies.join(' | '),
    );
  });

  test("a suspension's reason is quoted as printable ASCII on one line, whatever was stored", async () => {
    const login = 'hostile-reason@example.org';
    await relay.addUser(login, PASSWORD);
    await restrict(login, { state: 'suspended', reason: 'rate 9 %\r\n250 2.0.0 ok ünïcode' });
    const smtp = await connectAuthenticated(relay, login, 'wrong password').catch((error: Error) => error);
    assert.match(String(smtp), /AUTH failed/, 'a wrong password gets the plain 535');
    const dialogue = await connectSecure(relay);
    await dialogue.command('EHLO client.test');
    const reply = await dialogue.command(`AUTH PLAIN ${plainToken(login, PASSWORD)}`, REPLY_MS);
    assert.equal(reply.text, '550 5.7.1 Account suspended: rate 9 %??250 2.0.0 ok ?n?code; to have it reinstated, contact help@example.org');
    assert.equal(dialogue.pendingReplies, 0, 'one reply, one line');
    dialogue.close();
  });
});
