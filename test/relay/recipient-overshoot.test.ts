import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SmtpDialogue } from '../support/smtp-dialogue.ts';
import { connectAuthenticated, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';
const TOO_MANY = '452 4.5.3 Error: too many recipients';

async function recipients(smtp: SmtpDialogue, count: number, first = 1): Promise<string[]> {
  const replies: string[] = [];
  for (let i = first; i < first + count; i++) replies.push((await smtp.command(`RCPT TO:<r${i}@example.net>`)).text);
  return replies;
}

describe('recipients past the per-message limit, as Postfix smtpd_recipient_overshoot_limit', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay();
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('120 RCPTs: 50 accepted, 70 x 452 4.5.3, no 421, and the message goes to exactly the 50', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    const replies = await recipients(smtp, 120);
    assert.deepEqual(replies.slice(0, 50), Array(50).fill('250 2.1.5 Accepted'));
    assert.deepEqual(replies.slice(50), Array(70).fill(TOO_MANY));
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write('From: john@example.org\r\nSubject: many recipients\r\n\r\nhello\r\n.\r\n');
    const reply = await smtp.read();
    assert.match(reply.text, /^250 2\.0\.0 Ok: queued as /);
    const message = (await relay.outbox()).find((m) => m.id === reply.text.split(' ').pop());
    assert.deepEqual(message?.meta.destinations, Array.from({ length: 50 }, (_, i) => `r${i + 1}@example.net`));
    // The session goes on: the client sends the next 50 in another transaction.
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    assert.deepEqual(await recipients(smtp, 50, 51), Array(50).fill('250 2.1.5 Accepted'));
    assert.equal((await smtp.command('QUIT')).text, '221 2.0.0 Bye');
  });
});

describe('past the overshoot limit, each excess RCPT counts as an error again', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { MAX_RECIPIENTS: '2', RECIPIENT_OVERSHOOT_LIMIT: '5', MAX_ERRORS_PER_SESSION: '3' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('the allowance is per transaction; the third counted excess closes the session with 421 4.7.0', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    // 2 accepted, 5 forgiven, the sixth excess is error 1.
    assert.deepEqual(await recipients(smtp, 8), [...Array(2).fill('250 2.1.5 Accepted'), ...Array(6).fill(TOO_MANY)]);
    assert.equal((await smtp.command('RSET')).code, 250);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    // A new transaction has its own 5; then errors 2 and 3.
    assert.deepEqual(await recipients(smtp, 8), [...Array(2).fill('250 2.1.5 Accepted'), ...Array(6).fill(TOO_MANY)]);
    const last = await smtp.command('RCPT TO:<last@example.net>');
    assert.equal(last.text, TOO_MANY);
    assert.match((await smtp.read()).text, /^421 4\.7\.0 relay\.test Error: too many errors$/);
    assert.equal(await smtp.waitClosed(), true);
  });
});
