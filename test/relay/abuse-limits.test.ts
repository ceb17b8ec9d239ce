import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningRelay } from '../../relay/relay-server.ts';
import { connectAuthenticated, connectSecure, startTestRelay, startTwinRelay, type TestRelay } from '../support/relay-fixture.ts';
import { SmtpDialogue, plainToken } from '../support/smtp-dialogue.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

async function ehloSecure(relay: TestRelay): Promise<SmtpDialogue> {
  const smtp = await connectSecure(relay);
  await smtp.command('EHLO client.test');
  return smtp;
}

describe('failed AUTH: slower, then refused (Dovecot auth penalty, Postfix anvil)', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({
      env: { AUTH_PENALTY_BASE_MS: '100', AUTH_PENALTY_MAX_MS: '400', AUTH_REFUSE_ADDRESS_AFTER: '5', MAX_AUTH_FAILURES_PER_SESSION: '3' },
    });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('each failure waits longer, up to the cap; three in one session close it with 421 4.7.0', async () => {
    const smtp = await ehloSecure(relay);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const reply = await smtp.command(`AUTH PLAIN ${plainToken(USER, 'wrong')}`);
      waits.push(performance.now() - started);
      assert.match(reply.text, /^535 5\.7\.8 /);
    }
    // Lower bounds only: the delays are floors the relay guarantees.
    assert.ok((waits[0] ?? 0) >= 90, `first wait ${waits[0]}`);
    assert.ok((waits[1] ?? 0) >= 190, `second wait ${waits[1]}`);
    assert.ok((waits[2] ?? 0) >= 390, `third wait ${waits[2]}`);
    const closed = await smtp.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`);
    assert.equal(closed.text, '421 4.7.0 relay.test Error: too many failed authentications');
    assert.equal(await smtp.waitClosed(), true);
  });

  test('past the per-address threshold the address is refused, even with the right password, and at connect', async () => {
    const smtp = await ehloSecure(relay);
    let reply = await smtp.command(`AUTH PLAIN ${plainToken('nobody@example.org', 'x')}`);
    assert.match(reply.text, /^535 /);
    smtp.close();
    const again = await ehloSecure(relay);
    reply = await again.command(`AUTH PLAIN ${plainToken(USER, 'wrong')}`);
    assert.match(reply.text, /^535 /);
    reply = await again.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`);
    assert.equal(reply.text, '421 4.7.0 relay.test Error: too many authentication failures from [127.0.0.1], try again later');
    const refused = await SmtpDialogue.connect(relay.submissionPort);
    assert.equal((await refused.read()).text, '421 4.7.0 relay.test Error: too many authentication failures from [127.0.0.1], try again later');
    assert.equal(await refused.waitClosed(), true);
  });
});

describe('failed AUTH per login', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { AUTH_REFUSE_LOGIN_AFTER: '2', MAX_AUTH_FAILURES_PER_SESSION: '10' } });
    await relay.addUser(USER, PASSWORD);
    await relay.addUser('mary@example.org', PASSWORD);
  });
  after(() => relay.close());

  test('a login guessed at too often is refused for a while with 454 4.7.0; other logins are not', async () => {
    const smtp = await ehloSecure(relay);
    for (let i = 0; i < 2; i++) assert.match((await smtp.command(`AUTH PLAIN ${plainToken('JOHN@example.org', 'wrong')}`)).text, /^535 /);
    assert.equal(
      (await smtp.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).text,
      '454 4.7.0 Too many authentication failures for this login, try again later',
    );
    assert.equal((await smtp.command(`AUTH PLAIN ${plainToken('mary@example.org', PASSWORD)}`)).code, 235);
    smtp.close();
  });
});

describe('connection limits', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { MAX_CONNECTIONS_PER_CLIENT: '2', MAX_CONNECTIONS: '3' } });
  });
  after(() => relay.close());

  test('a client address may hold only so many sessions; a freed one can be reused', async () => {
    const first = await SmtpDialogue.connect(relay.submissionPort);
    const second = await SmtpDialogue.connect(relay.submissionsPort, { implicitTls: true });
    assert.equal((await first.read()).code, 220);
    assert.equal((await second.read()).code, 220);
    const third = await SmtpDialogue.connect(relay.submissionPort);
    assert.equal((await third.read()).text, '421 4.7.0 relay.test Error: too many connections from [127.0.0.1]');
    assert.equal(await third.waitClosed(), true);
    first.close();
    await sleep(100);
    const fourth = await SmtpDialogue.connect(relay.submissionPort);
    assert.equal((await fourth.read()).code, 220);
    second.close();
    fourth.close();
  });
});

describe('concurrent sessions per process', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { MAX_CONNECTIONS: '2' } });
  });
  after(() => relay.close());

  test('past MAX_CONNECTIONS a listener answers 421 4.7.0 and closes', async () => {
    const open = [await SmtpDialogue.connect(relay.submissionPort), await SmtpDialogue.connect(relay.submissionPort)];
    for (const smtp of open) assert.equal((await smtp.read()).code, 220);
    const extra = await SmtpDialogue.connect(relay.submissionPort);
    assert.equal((await extra.read()).text, '421 4.7.0 relay.test Error: too many connections, try again later');
    for (const smtp of open) smtp.close();
  });
});

describe('total session time', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { MAX_SESSION_SECONDS: '1' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('a busy session is still closed at the limit with 421 4.4.2', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    let last = await smtp.command('NOOP');
    for (let i = 0; i < 30 && last.code === 250; i++) {
      await sleep(100);
      last = await smtp.command('NOOP').catch(() => last);
    }
    assert.equal(last.text, '421 4.4.2 relay.test Error: session time limit exceeded');
    assert.equal(await smtp.waitClosed(), true);
  });
});

describe('per-user sending limits, shared by every task through DynamoDB', () => {
  let relay: TestRelay;
  let twin: RunningRelay;
  before(async () => {
    relay = await startTestRelay({ env: { DEFAULT_MESSAGES_PER_MINUTE: '3', DEFAULT_RECIPIENTS_PER_DAY: '0' } });
    await relay.addUser(USER, PASSWORD);
    await relay.addUser('limited@example.org', PASSWORD);
    await relay.stack.store.updateUser('limited@example.org', { settings: { limits: { recipientsPerDay: 3, messagesPerMinute: 100 } } });
    twin = await startTwinRelay(relay, { DEFAULT_MESSAGES_PER_MINUTE: '3' });
  });
  after(async () => {
    await twin.close();
    await relay.close();
  });

  const mailFrom = async (port: number, login = USER) => {
    const smtp = await SmtpDialogue.connect(port);
    await smtp.read();
    await smtp.command('EHLO client.test');
    await smtp.startTls();
    await smtp.command('EHLO client.test');
    await smtp.command(`AUTH PLAIN ${plainToken(login, PASSWORD)}`);
    const reply = await smtp.command(`MAIL FROM:<${login}>`);
    smtp.close();
    return reply.text;
  };

  test('messages a minute: the fourth MAIL, on either task, is 450 4.7.1', async () => {
    assert.equal(await mailFrom(relay.submissionPort), '250 2.1.0 Accepted');
    assert.equal(await mailFrom(twin.submissionPort), '250 2.1.0 Accepted');
    assert.equal(await mailFrom(relay.submissionPort), '250 2.1.0 Accepted');
    assert.equal(await mailFrom(twin.submissionPort), '450 4.7.1 Error: sending rate limit reached (3 messages a minute), try again later');
    assert.equal(await mailFrom(relay.submissionPort, 'limited@example.org'), '250 2.1.0 Accepted', 'another user has a budget of their own');
  });

  test('recipients a day: a message that would pass the limit is 450 4.7.1 at the end of DATA and not sent', async () => {
    const before = relay.stack.ses.stats().accepted;
    const send = async (recipients: string[]) => {
      const smtp = await connectAuthenticated(relay, 'limited@example.org', PASSWORD);
      await smtp.command('MAIL FROM:<limited@example.org>');
      for (const rcpt of recipients) await smtp.command(`RCPT TO:<${rcpt}>`);
      await smtp.command('DATA');
      smtp.write('From: limited@example.org\r\n\r\nx\r\n.\r\n');
      const reply = await smtp.read();
      smtp.close();
      return reply.text;
    };
    assert.match(await send(['a@example.net', 'b@example.net']), /^250 /);
    assert.equal(await send(['c@example.net', 'd@example.net']), '450 4.7.1 Error: daily recipient limit reached (3 recipients a day), try again tomorrow');
    assert.match(await send(['c@example.net']), /^250 /, 'what is left of the budget can still be used');
    assert.equal(relay.stack.ses.stats().accepted, before + 2);
  });
});
