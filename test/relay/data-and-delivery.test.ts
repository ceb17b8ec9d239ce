import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectAuthenticated, startTestRelay, withoutTraceHeader, type TestRelay } from '../support/relay-fixture.ts';
import type { SmtpDialogue } from '../support/smtp-dialogue.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

/** MAIL, RCPTs and DATA on an authenticated session, then the raw DATA bytes (dot-stuffed by the caller); returns the final reply. */
async function transaction(smtp: SmtpDialogue, recipients: string[], data: Buffer | string, from = USER) {
  assert.equal((await smtp.command(`MAIL FROM:<${from}>`)).code, 250);
  for (const rcpt of recipients) assert.equal((await smtp.command(`RCPT TO:<${rcpt}>`)).code, 250);
  assert.equal((await smtp.command('DATA')).text, '354 End data with <CR><LF>.<CR><LF>');
  smtp.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  return smtp.read(10_000);
}

const queuedId = (text: string) => /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(text)?.[1];

describe('DATA and delivery (SMTP.md "DATA and delivery")', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { MAX_MESSAGE_BYTES: '100000', MAX_HEADER_BYTES: '65536' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('nodemailer over STARTTLS: SES gets the message byte for byte, with every envelope recipient, Bcc included', async () => {
    const transport = relay.transport({ user: USER, pass: PASSWORD });
    const raw = Buffer.from(
      'From: John <john@example.org>\r\nTo: someone@example.net\r\nCc: copy@example.net\r\nSubject: hello\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
        'Grüße aus der Relay.\r\n.leading dot line\r\n..two dots\r\n\r\nend\r\n',
      'utf8',
    );
    const info = await transport.sendMail({
      envelope: { from: USER, to: ['someone@example.net', 'copy@example.net', 'hidden@example.net'] },
      raw,
    });
    transport.close();
    const id = queuedId(info.response ?? '');
    assert.ok(id, info.response);
    const message = (await relay.outbox()).find((m) => m.id === id);
    assert.ok(message, 'in the outbox under the id the client was told');
    assert.deepEqual(withoutTraceHeader(message.raw), raw);
    assert.deepEqual(message.meta.destinations, ['someone@example.net', 'copy@example.net', 'hidden@example.net']);
    assert.equal(message.meta.from, USER);
    assert.ok(!message.raw.includes('hidden@example.net'), 'the Bcc recipient appears nowhere in the message');
  });

  test('implicit TLS (465) with AUTH LOGIN delivers too', async () => {
    const transport = relay.transport({ user: USER, pass: PASSWORD }, { implicitTls: true });
    const info = await transport.sendMail({ from: USER, to: 'someone@example.net', subject: 'via 465', text: 'hi' });
    transport.close();
    assert.match(info.response ?? '', /^250 2\.0\.0 Ok: queued as /);
  });

  test('the trace header names the relay and the session, and no recipient', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['secret-bcc@example.net'], 'From: john@example.org\r\nSubject: t\r\n\r\nbody\r\n.\r\n');
    smtp.close();
    const message = (await relay.outbox()).find((m) => m.id === queuedId(reply.text));
    const trace = message!.raw.subarray(0, message!.raw.length - withoutTraceHeader(message!.raw).length).toString();
    assert.match(trace, /^Received: from client\.test \(\[127\.0\.0\.1\]\) \(using TLSv1\.[23] with cipher \S+\)\r\n\tby relay\.test \(submission relay\) with ESMTPSA id \S+;\r\n\t\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n$/);
    assert.ok(!trace.includes('secret-bcc'));
  });

  test('dot-unstuffing only: a line of one dot inside the body survives as sent', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['a@example.net'], 'From: john@example.org\r\nSubject: dots\r\n\r\n..\r\n...x\r\n.\r\n');
    smtp.close();
    const message = (await relay.outbox()).find((m) => m.id === queuedId(reply.text));
    assert.equal(withoutTraceHeader(message!.raw).toString(), 'From: john@example.org\r\nSubject: dots\r\n\r\n.\r\n..x\r\n');
  });

  for (const [name, body, expected] of [
    ['bare LF', 'Subject: x\r\n\r\nline one\nline two\r\n', '550 5.5.2 Message rejected: bare <LF> received'],
    ['bare CR', 'Subject: x\r\n\r\nline one\rline two\r\n', '550 5.5.2 Message rejected: bare <CR> received'],
    ['bare LF in the header', 'Subject: x\nX-Other: y\r\n\r\nbody\r\n', '550 5.5.2 Message rejected: bare <LF> received'],
  ] as const) {
    test(`${name} is refused and nothing reaches SES`, async () => {
      const before = (await relay.outbox()).length;
      const smtp = await connectAuthenticated(relay, USER, PASSWORD);
      const reply = await transaction(smtp, ['a@example.net'], `${body}.\r\n`);
      assert.equal(reply.text, expected);
      assert.equal((await smtp.command('NOOP')).code, 250, 'the session goes on');
      smtp.close();
      assert.equal((await relay.outbox()).length, before);
    });
  }

  test('SMTP smuggling: <LF>.<LF> and <CR><LF>.<LF> do not end DATA, and nothing smuggled runs', async () => {
    const before = (await relay.outbox()).length;
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const smuggled =
      'Subject: outer\r\n\r\nouter body\n.\nMAIL FROM:<mary@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n' +
      'Subject: smuggled\r\n\r\nsmuggled\r\n.\n' +
      'more\r\n.\r\n';
    const reply = await transaction(smtp, ['a@example.net'], smuggled);
    assert.equal(reply.text, '550 5.5.2 Message rejected: bare <LF> received');
    // One message, one reply: the next thing the server says answers our NOOP.
    assert.equal((await smtp.command('NOOP')).text, '250 2.0.0 OK');
    smtp.close();
    assert.equal((await relay.outbox()).length, before);
  });

  test('a line over 998 characters is refused before anything is sent', async () => {
    const before = (await relay.outbox()).length;
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['a@example.net'], `Subject: long\r\n\r\n${'x'.repeat(999)}\r\n.\r\n`);
    assert.match(reply.text, /^550 5\.5\.2 .*998/);
    const ok = await transaction(smtp, ['a@example.net'], `From: john@example.org\r\nSubject: long\r\n\r\n${'x'.repeat(998)}\r\n.\r\n`);
    assert.match(ok.text, /^250 /, 'exactly 998 is fine');
    smtp.close();
    assert.equal((await relay.outbox()).length, before + 1);
  });

  test('a header section over MAX_HEADER_BYTES is 552 5.3.4 and not sent', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const header = `From: john@example.org\r\n${'X-Filler: '.concat('z'.repeat(900), '\r\n').repeat(80)}`;
    const reply = await transaction(smtp, ['a@example.net'], `${header}\r\nbody\r\n.\r\n`);
    assert.equal(reply.text, '552 5.3.4 Message rejected: header section too large');
    smtp.close();
  });

  test('a message over the size limit is read to its end, answered 552 5.3.4, not sent, and the session goes on', async () => {
    const before = (await relay.outbox()).length;
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const line = `${'y'.repeat(76)}\r\n`;
    const reply = await transaction(smtp, ['a@example.net'], `Subject: big\r\n\r\n${line.repeat(2000)}.\r\n`);
    assert.equal(reply.text, '552 5.3.4 Message size exceeds fixed maximum message size');
    assert.equal((await smtp.command('NOOP')).code, 250);
    const ok = await transaction(smtp, ['a@example.net'], 'From: john@example.org\r\nSubject: small\r\n\r\nfine\r\n.\r\n');
    assert.match(ok.text, /^250 /);
    smtp.close();
    assert.equal((await relay.outbox()).length, before + 1);
  });

  test('the null sender goes to SES without a FromEmailAddress', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['a@example.net'], 'From: john@example.org\r\nSubject: bounce\r\n\r\nx\r\n.\r\n', '');
    smtp.close();
    const message = (await relay.outbox()).find((m) => m.id === queuedId(reply.text));
    assert.equal(message?.meta.from, undefined);
  });

  test('an internationalised recipient domain reaches SES as its A-label', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['Someone@Bücher.example'], 'From: john@example.org\r\nSubject: idn\r\n\r\nx\r\n.\r\n');
    smtp.close();
    const message = (await relay.outbox()).find((m) => m.id === queuedId(reply.text));
    assert.deepEqual(message?.meta.destinations, ['Someone@xn--bcher-kva.example']);
  });
});

describe('SES failures reach the client as the right reply', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { SES_THROTTLE_RETRIES: '1', SES_TIMEOUT_SECONDS: '1' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  for (const [fault, expected] of [
    ['throttle', /^451 4\.4\.5 Sending rate exceeded, try again later$/],
    ['internal', /^451 4\.4\.0 /],
    ['unavailable', /^451 4\.4\.0 /],
    ['timeout', /^451 4\.4\.1 /],
    ['reject', /^554 5\.6\.0 Message rejected by SES: Email address is not verified\. .*john@example\.org$/],
    ['mail-from-not-verified', /^554 5\.7\.1 Sender rejected by SES: /],
    ['account-suspended', /^451 4\.3\.2 /],
    ['sending-paused', /^451 4\.3\.2 /],
  ] as const) {
    test(`SES ${fault}: ${expected.source.slice(1, 12)}, nothing stored`, async () => {
      const before = relay.stack.ses.stats().accepted;
      relay.stack.ses.faults.arm(fault);
      try {
        const smtp = await connectAuthenticated(relay, USER, PASSWORD);
        const reply = await transaction(smtp, ['a@example.net'], 'From: john@example.org\r\nSubject: x\r\n\r\nx\r\n.\r\n');
        assert.match(reply.text, expected);
        smtp.close();
      } finally {
        relay.stack.ses.faults.clear();
      }
      assert.equal(relay.stack.ses.stats().accepted, before);
    });
  }

  test('one throttle is retried and the message goes through once', async () => {
    const before = relay.stack.ses.stats();
    relay.stack.ses.faults.arm('throttle', 1);
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['a@example.net'], 'From: john@example.org\r\nSubject: retried\r\n\r\nx\r\n.\r\n');
    smtp.close();
    assert.match(reply.text, /^250 2\.0\.0 Ok: queued as /);
    const after = relay.stack.ses.stats();
    assert.equal(after.accepted, before.accepted + 1);
    assert.equal(after.requests, before.requests + 2);
  });
});

describe('header senders and client SES directives (issue: hostile input)', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay();
    await relay.addUser(USER, PASSWORD, ['sales@example.org']);
    await relay.addUser('mary@example.org', 'another good password');
  });
  after(() => relay.close());

  const send = async (header: string, from = USER) => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    const reply = await transaction(smtp, ['a@example.net'], `${header}\r\nbody\r\n.\r\n`, from);
    smtp.close();
    return reply.text;
  };

  test('a From header the user owns passes, display name, case and all', async () => {
    assert.match(await send('From: "John Doe" <John@Example.org>\r\nSubject: x\r\n'), /^250 /);
    assert.match(await send('From: Sales <sales@example.org>\r\nSubject: x\r\n'), /^250 /);
    assert.match(await send('From: john@example.org, sales@example.org\r\nSender: john@example.org\r\n'), /^250 /);
  });

  test("a forged From header is 553 5.7.1 even when MAIL FROM is the user's own", async () => {
    assert.equal(
      await send('From: Mary <mary@example.org>\r\nSubject: forged\r\n'),
      `553 5.7.1 <mary@example.org>: From header address rejected: not owned by user ${USER}`,
    );
    assert.match(await send('From: john@example.org, mary@example.org\r\n'), /^553 5\.7\.1 <mary@example\.org>: From header/);
    assert.match(await send('From: =?utf-8?q?John?= <mary@example.org>\r\n'), /^553 5\.7\.1 /);
    assert.match(await send('From:\r\n mary@example.org\r\n'), /^553 5\.7\.1 /, 'folded');
  });

  test('a forged Sender header is 553 5.7.1', async () => {
    assert.equal(
      await send('From: john@example.org\r\nSender: mary@example.org\r\n'),
      `553 5.7.1 <mary@example.org>: Sender header address rejected: not owned by user ${USER}`,
    );
  });

  test('no From, two From fields, or an unreadable one is 550 5.6.0', async () => {
    assert.equal(await send('Subject: no from\r\n'), '550 5.6.0 Message rejected: no From header');
    assert.equal(await send('From: john@example.org\r\nFROM: john@example.org\r\n'), '550 5.6.0 Message rejected: more than one From header');
    assert.equal(await send('From: \r\n'), '550 5.6.0 Message rejected: unreadable From header');
  });

  test('nothing refused reaches SES', async () => {
    const before = relay.stack.ses.stats().accepted;
    await send('From: mary@example.org\r\n');
    assert.equal(relay.stack.ses.stats().accepted, before);
  });

  test('client X-SES-* headers are removed, everything else stays byte for byte', async () => {
    const header =
      'From: john@example.org\r\nX-SES-CONFIGURATION-SET: other-teams-set\r\nSubject: directives\r\n' +
      'x-ses-message-tags: team=other\r\nX-SES-SOURCE-ARN:\r\n arn:aws:ses:us-east-1:123456789012:identity/other.example\r\nX-Mailer: test\r\n';
    const text = await send(header);
    const id = queuedId(text);
    const message = (await relay.outbox()).find((m) => m.id === id);
    assert.equal(
      withoutTraceHeader(message!.raw).toString(),
      'From: john@example.org\r\nSubject: directives\r\nX-Mailer: test\r\n\r\nbody\r\n',
    );
    assert.equal(message!.meta.configurationSet, undefined);
  });
});
