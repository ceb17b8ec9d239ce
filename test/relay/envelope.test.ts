import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectAuthenticated, connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';
const OTHER = 'mary@example.org';

describe('envelope (SMTP.md "Envelope")', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay();
    await relay.addUser(USER, PASSWORD, ['sales@example.org', '@john.example']);
    await relay.addUser(OTHER, 'another good password');
    const createdAt = new Date().toISOString();
    // info@ -> support@ -> john: an alias chain two deep.
    await relay.stack.store.putSender({ grant: 'support@example.org', aliasOf: USER, createdAt });
    await relay.stack.store.putSender({ grant: 'info@example.org', aliasOf: 'support@example.org', createdAt });
    // A loop owns nothing.
    await relay.stack.store.putSender({ grant: 'loop1@example.org', aliasOf: 'loop2@example.org', createdAt });
    await relay.stack.store.putSender({ grant: 'loop2@example.org', aliasOf: 'loop1@example.org', createdAt });
    // Grant precedence: john holds @corp.example, but ceo@ is granted to mary and cfo@ is a login.
    await relay.stack.store.putSender({ grant: '@corp.example', owner: USER, createdAt });
    await relay.stack.store.putSender({ grant: 'ceo@corp.example', owner: OTHER, createdAt });
    await relay.addUser('cfo@corp.example', 'a third good password');
  });
  after(() => relay.close());

  const session = () => connectAuthenticated(relay, USER, PASSWORD);

  test('no AUTH, no relay: MAIL and RCPT are 530 5.7.0 whatever the address trickery', async () => {
    const smtp = await connectSecure(relay);
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).text, '530 5.7.0 Authentication required');
    for (const rcpt of ['victim@example.net', '@relay.test:victim@example.net', 'victim%example.net@relay.test', '"victim@example.net"', 'victim@example.net@relay.test', 'postmaster']) {
      const reply = await smtp.command(`RCPT TO:<${rcpt}>`);
      assert.notEqual(reply.code, 250, rcpt);
      assert.match(reply.text, /^5\d\d 5\.\d\.\d /, rcpt);
    }
    assert.equal((await smtp.command('DATA')).code, 530);
    smtp.close();
  });

  for (const [sender, why] of [
    [USER, 'the login'],
    ['JOHN@Example.ORG', 'the login, in other case'],
    ['"john"@example.org', 'the login, quoted'],
    ['sales@example.org', 'a granted address'],
    ['support@example.org', 'an alias of the login'],
    ['info@example.org', 'an alias of an alias'],
    ['anything@john.example', 'an address of a granted domain'],
    ['Anything@JOHN.example', 'a granted domain, in other case'],
    ['board@corp.example', 'an address of a granted domain that nobody owns explicitly'],
  ] as const) {
    test(`MAIL FROM ${why} is 250`, async () => {
      const smtp = await session();
      assert.equal((await smtp.command(`MAIL FROM:<${sender}>`)).text, '250 2.1.0 Accepted');
      smtp.close();
    });
  }

  test('MAIL FROM:<> (bounces) is accepted', async () => {
    const smtp = await session();
    assert.equal((await smtp.command('MAIL FROM:<>')).code, 250);
    smtp.close();
  });

  for (const [sender, why] of [
    [OTHER, "another user's login"],
    ['Mary@EXAMPLE.org', "another user's login in other case"],
    ['"mary"@example.org', "another user's login, quoted"],
    ['@john.example:mary@example.org', 'a source route to another user'],
    ['nobody@example.org', 'an address nobody owns'],
    ['john@sub.john.example', 'a subdomain of a granted domain'],
    ['john@example.org.evil', 'the login with a suffix'],
    ['loop1@example.org', 'an alias loop'],
    ['ceo@corp.example', 'an address of a granted domain that is granted to another user'],
    ['CFO@corp.example', "another user's login inside a granted domain"],
  ] as const) {
    test(`MAIL FROM ${why} is 553 5.7.1 not owned`, async () => {
      const smtp = await session();
      const reply = await smtp.command(`MAIL FROM:<${sender}>`);
      assert.match(reply.text, /^553 5\.7\.1 <.*>: Sender address rejected: not owned by user john@example\.org$/, `${sender}: ${reply.text}`);
      smtp.close();
    });
  }

  test('an address granted explicitly is its owner\'s, not the domain holder\'s', async () => {
    const mary = await connectAuthenticated(relay, OTHER, 'another good password');
    assert.equal((await mary.command('MAIL FROM:<ceo@corp.example>')).text, '250 2.1.0 Accepted');
    mary.close();
    const john = await session();
    assert.equal((await john.command('MAIL FROM:<ceo@corp.example>')).text, `553 5.7.1 <ceo@corp.example>: Sender address rejected: not owned by user ${USER}`);
    john.close();
  });

  test('the exact Postfix wording of the refusal', async () => {
    const smtp = await session();
    assert.equal(
      (await smtp.command(`MAIL FROM:<${OTHER}>`)).text,
      `553 5.7.1 <${OTHER}>: Sender address rejected: not owned by user ${USER}`,
    );
    smtp.close();
  });

  test('a trailing dot or broken syntax in MAIL FROM is refused, never accepted', async () => {
    const smtp = await session();
    for (const sender of ['john@example.org.', 'john@@example.org', 'john', '<john@example.org>', '"john@example.org"@evil.example']) {
      const reply = await smtp.command(`MAIL FROM:<${sender}>`);
      assert.match(reply.text, /^5\d\d 5\.\d\.\d /, `${sender}: ${reply.text}`);
    }
    smtp.close();
  });

  test('a non-ASCII local part is 553 5.6.7, in MAIL and in RCPT', async () => {
    const smtp = await session();
    assert.match((await smtp.command('MAIL FROM:<jöhn@example.org>')).text, /^553 5\.6\.7 /);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    assert.match((await smtp.command('RCPT TO:<müller@example.net>')).text, /^553 5\.6\.7 /);
    // An internationalised domain is fine: it travels as its A-label.
    assert.equal((await smtp.command('RCPT TO:<someone@bücher.example>')).code, 250);
    smtp.close();
  });

  test('SIZE over the limit is 552 5.3.4', async () => {
    const smtp = await session();
    assert.equal(
      (await smtp.command(`MAIL FROM:<${USER}> SIZE=${40_000_000}`)).text,
      '552 5.3.4 Message size exceeds fixed maximum message size',
    );
    assert.equal((await smtp.command(`MAIL FROM:<${USER}> SIZE=1000`)).code, 250);
    smtp.close();
  });

  test('parameters we do not offer are 555 5.5.4', async () => {
    const smtp = await session();
    assert.match((await smtp.command(`MAIL FROM:<${USER}> SMTPUTF8`)).text, /^555 5\.5\.4 /);
    assert.match((await smtp.command(`MAIL FROM:<${USER}> RET=FULL`)).text, /^555 5\.5\.4 /);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}> BODY=8BITMIME`)).code, 250);
    assert.match((await smtp.command('RCPT TO:<a@example.net> NOTIFY=NEVER')).text, /^555 5\.5\.4 /);
    smtp.close();
  });

  test('the 51st recipient is 452 4.5.3 and the first 50 stay', async () => {
    const smtp = await session();
    await smtp.command(`MAIL FROM:<${USER}>`);
    for (let i = 1; i <= 50; i++) assert.equal((await smtp.command(`RCPT TO:<r${i}@example.net>`)).code, 250);
    assert.equal((await smtp.command('RCPT TO:<r51@example.net>')).text, '452 4.5.3 Error: too many recipients');
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write('From: john@example.org\r\nSubject: fifty\r\n\r\nhello\r\n.\r\n');
    const reply = await smtp.read();
    assert.match(reply.text, /^250 2\.0\.0 Ok: queued as /);
    const id = reply.text.split(' ').pop();
    const message = (await relay.outbox()).find((m) => m.id === id);
    assert.equal(message?.meta.destinations.length, 50);
    smtp.close();
  });

  test('a recipient that is not fully qualified or is broken is refused', async () => {
    const smtp = await session();
    await smtp.command(`MAIL FROM:<${USER}>`);
    assert.match((await smtp.command('RCPT TO:<postmaster>')).text, /^501 5\.1\.3 /);
    assert.match((await smtp.command('RCPT TO:<someone@localhost>')).text, /^501 5\.1\.3 /);
    assert.match((await smtp.command('RCPT TO:<someone@[127.0.0.1]>')).text, /^501 5\.1\.3 /);
    assert.match((await smtp.command('RCPT TO:<some one@example.net>')).text, /^501 5\.1\.3 /);
    assert.match((await smtp.command('RCPT TO:<>')).text, /^501 5\.1\.3 /);
    smtp.close();
  });

  test('commands out of sequence are 503 5.5.1', async () => {
    const smtp = await session();
    assert.match((await smtp.command('RCPT TO:<a@example.net>')).text, /^503 5\.5\.1 /);
    assert.match((await smtp.command('DATA')).text, /^503 5\.5\.1 /);
    await smtp.command(`MAIL FROM:<${USER}>`);
    assert.match((await smtp.command(`MAIL FROM:<${USER}>`)).text, /^503 5\.5\.1 /);
    assert.match((await smtp.command('DATA')).text, /^503 5\.5\.1 /);
    smtp.close();
  });

  test('an over-long command line closes the session with 421, nothing of it runs', async () => {
    const smtp = await session();
    const reply = await smtp.command(`MAIL FROM:<${'a'.repeat(5000)}@example.org>`);
    assert.equal(reply.text, '421 4.7.0 relay.test Error: command line too long');
    assert.equal(await smtp.waitClosed(), true);
  });

  test('unknown commands are 500 5.5.2; known but not offered ones 502 5.5.1', async () => {
    const smtp = await session();
    assert.match((await smtp.command('FROBNICATE')).text, /^500 5\.5\.2 /);
    for (const command of ['EXPN staff', 'ETRN example.org', 'BDAT 10 LAST', 'TURN']) {
      assert.match((await smtp.command(command)).text, /^502 5\.5\.1 /, command);
    }
    smtp.close();
  });

  test('VRFY gives the same 252 2.0.0 for users that exist and ones that do not', async () => {
    const smtp = await session();
    const known = await smtp.command(`VRFY ${USER}`);
    const unknown = await smtp.command('VRFY nobody@example.org');
    assert.match(known.text, /^252 2\.0\.0 /);
    assert.equal(known.text, unknown.text);
    smtp.close();
  });

  test('RSET clears the envelope and keeps the authentication', async () => {
    const smtp = await session();
    await smtp.command(`MAIL FROM:<${USER}>`);
    await smtp.command('RCPT TO:<a@example.net>');
    assert.equal((await smtp.command('RSET')).text, '250 2.0.0 Ok');
    assert.match((await smtp.command('DATA')).text, /^503 5\.5\.1 /);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    smtp.close();
  });

  test('QUIT is 221 2.0.0 Bye and closes', async () => {
    const smtp = await session();
    assert.equal((await smtp.command('QUIT')).text, '221 2.0.0 Bye');
    assert.equal(await smtp.waitClosed(), true);
  });

  test('too many errors in one session: 421 4.7.0 too many errors, and closed', async () => {
    const smtp = await session();
    let last = await smtp.command('RCPT TO:<a@example.net>');
    for (let i = 0; i < 20 && last.code !== 421; i++) last = await smtp.command('RCPT TO:<a@example.net>').catch(() => last);
    assert.match(last.text, /^421 4\.7\.0 .*too many errors/);
    assert.equal(await smtp.waitClosed(), true);
  });
});

describe('idle sessions', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { IDLE_TIMEOUT_SECONDS: '1' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('an idle session gets 421 4.4.2 timeout and is closed', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await smtp.read(5_000);
    assert.match(reply.text, /^421 4\.4\.2 relay\.test .*timeout/);
    assert.equal(await smtp.waitClosed(), true);
  });
});
