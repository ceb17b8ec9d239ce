/**
 * The trust boundary (issue #9): every client string has a grammar, the checks
 * judge the bytes that leave, sender headers are strict. Each known bypass of
 * the issue is a named test here; they were written against the relay before
 * the fix, and failed there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SMTPServerSession } from 'smtp-server';
import type { PolicyClient, PolicyDecision, PolicyRequest } from '../../lambda/policy-contract.ts';
import { outgoingHeaderSection } from '../../relay/header-section.ts';
import { claimedSenders } from '../../relay/sender-fields.ts';
import { traceHeader } from '../../relay/trace-header.ts';
import { connectAuthenticated, connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { plainToken } from '../support/smtp-dialogue.ts';
import { queuedId, sendThrough } from '../support/smtp-transaction.ts';

const USER = 'alice@example.org';
const PASSWORD = 'alice hostile input password';
const OTHER = 'mary@example.org';
const PORTS = ['submission', 'submissions'] as const;

describe('hostile input (issue #9)', () => {
  let relay: TestRelay;
  /** authorizeSender questions that reached the policy beneath the permit cache. */
  const senderQuestions: string[] = [];
  const counting = (policy: PolicyClient): PolicyClient => ({
    decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>> {
      if (request.action === 'authorizeSender') senderQuestions.push(request.sender);
      return policy.decide(request);
    },
  });

  before(async () => {
    // Each grammar test sends many refused lines in one session, and the file
    // sends more messages a minute than the default sending limit allows.
    relay = await startTestRelay({
      wrapPolicy: counting,
      env: { MAX_ERRORS_PER_SESSION: '1000', MAX_UNAUTHENTICATED_COMMANDS: '1000', DEFAULT_MESSAGES_PER_MINUTE: '0' },
    });
    await relay.addUser(USER, PASSWORD, ['sales@example.org', '@alice.example']);
    await relay.addUser(OTHER, 'mary hostile input password');
  });
  after(() => relay.close());

  /** One message through a fresh authenticated session; the reply to DATA. */
  const send = async (message: string | Buffer, from = USER): Promise<string> => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    try {
      return (await sendThrough(smtp, from, message)).text;
    } finally {
      smtp.close();
    }
  };
  const outboxHolding = async (text: string) => (await relay.outbox()).filter((message) => message.raw.includes(text));

  describe('EHLO/HELO is an RFC 5321 Domain or address-literal', () => {
    const INJECTION = `x\u030d\u030aFrom: ceo@corp.example\u030d\u030aX-SES-CONFIGURATION-SET: other-team\u030d\u030a\u030d\u030a`;

    for (const port of PORTS) {
      test(`bypass: an EHLO name of U+030D U+030A writes header fields above the checked header (${port})`, async () => {
        const smtp = await connectSecure(relay, port);
        const refused = await smtp.command(`EHLO ${INJECTION}`);
        assert.equal(refused.text, '501 5.5.2 <x??From:>: Helo command rejected: Invalid name');
        assert.equal((await smtp.command('EHLO client.test')).code, 250);
        assert.equal((await smtp.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).code, 235);
        const reply = await sendThrough(smtp, USER, `From: ${USER}\r\nSubject: ehlo ${port}\r\n\r\nbody\r\n`);
        smtp.close();
        const message = (await relay.outbox()).find((m) => m.id === queuedId(reply.text));
        assert.ok(message, reply.text);
        assert.match(message.raw.toString('utf8'), /^Received: from client\.test \(\[127\.0\.0\.1\]\)/);
        assert.deepEqual(await outboxHolding('ceo@corp.example'), []);
      });
    }

    const INVALID = [
      'x\u030d\u030aFrom:', 'exämple.org', 'host.example.', '.host.example', 'a..b.example', '-host.example', 'host-.example',
      `${'a'.repeat(64)}.example`, 'a@b.example', '"host"', 'host/example', 'host\x7f.example', '[1.2.3.999]', '[1.2.3]',
      '[IPv6:zz::1]', '[IPv6:1.2.3.4]', '[tag:content]', '[127.0.0.1', '127.0.0.1]', '[]', 'host\u200b.example',
    ];
    for (const port of PORTS) {
      test(`names outside the grammar are 501 5.5.2 on ${port}, EHLO and HELO alike`, async () => {
        const smtp = await connectSecure(relay, port);
        for (const name of INVALID) {
          for (const verb of ['EHLO', 'HELO']) {
            const reply = await smtp.command(`${verb} ${name}`);
            assert.match(reply.text, /^501 5\.5\.2 <[\x20-\x7e]*>: Helo command rejected: Invalid name$/, `${verb} ${JSON.stringify(name)}`);
          }
        }
        smtp.close();
      });
    }

    const VALID = ['client.test', 'localhost', 'DESKTOP-4F2K9', 'mail.example.org', 'host_name.example', 'xn--bcher-kva.example', '[127.0.0.1]', '[IPv6:::1]', '[IPv6:2001:db8::1]', `${'a'.repeat(63)}.example`];
    test('Domain names and address literals are welcome', async () => {
      const smtp = await connectSecure(relay);
      for (const name of VALID) {
        assert.equal((await smtp.command(`EHLO ${name}`)).code, 250, name);
        assert.equal((await smtp.command(`HELO ${name}`)).code, 250, name);
      }
      smtp.close();
    });
  });

  describe('From, Sender and Resent-* are strict RFC 5322 mailbox lists', () => {
    for (const [from, why] of [
      [`ceo@corp.example <${USER}>`, 'an unquoted display name holding an address'],
      [`<ceo@corp.example <${USER}>>`, 'an angle address inside an angle address'],
      [`ceo@corp.example:${USER};`, 'a group'],
      [`Team: ${USER};`, 'a group of owned addresses'],
      [`<${USER}> ceo@corp.example`, 'trailing text after the angle address'],
      [`Alice <${USER}> <ceo@corp.example>`, 'a second angle address'],
      [`Alice <${USER}`, 'an unclosed angle address'],
      [`"Alice <${USER}>`, 'an unclosed quoted string'],
      [`Alice (comment <${USER}>`, 'an unclosed comment'],
      [`Alice: <${USER}>`, 'a colon in an unquoted display name'],
      [`${USER},`, 'an empty mailbox after a comma'],
      [`${USER}, , sales@example.org`, 'an empty mailbox between commas'],
      [`${USER} (\u{5090f}\bk<)`, 'a control character in a comment (found by the differential property: once a 451)'],
      [`sales@example.org\u200b`, 'a zero-width space that IDNA drops from the domain (found by the differential property)'],
    ] as const) {
      test(`bypass: ${why} in From is 550 5.6.0`, async () => {
        assert.equal(await send(`From: ${from}\r\nSubject: x\r\n\r\nbody\r\n`), '550 5.6.0 Message rejected: unreadable From header');
      });
    }

    for (const [field, value, claim, rejected] of [
      ['From', `"ceo@corp.example" <${USER}>`, 'From', 'ceo@corp.example'],
      ['From', `=?utf-8?q?ceo=40corp=2Eexample?= <${USER}>`, 'From', 'ceo@corp.example'],
      ['From', `=?UTF-8?B?Y2VvQGNvcnAuZXhhbXBsZQ==?= <${USER}>`, 'From', 'ceo@corp.example'],
      ['From', `"=?utf-8?q?ceo=40corp.example?=" <${USER}>`, 'From', 'ceo@corp.example'],
      ['From', `${USER} (ceo@corp.example)`, 'From', 'ceo@corp.example'],
      ['From', `Alice (=?utf-8?q?mary=40example.org?=) <${USER}>`, 'From', 'mary@example.org'],
      ['From', `"ceo\uff20corp.example" <${USER}>`, 'From', 'ceo@corp.example'],
      ['From', `"ceo@corp.example"@example.org`, 'From', 'ceo@corp.example'],
      ['Sender', OTHER, 'Sender', OTHER],
      ['Resent-From', OTHER, 'Resent-From', OTHER],
      ['Resent-Sender', `Mary <${OTHER}>`, 'Resent-Sender', OTHER],
    ] as const) {
      test(`bypass: ${field}: ${value} is 553 5.7.1 for <${rejected}>`, async () => {
        const header = field === 'From' ? `From: ${value}\r\n` : `From: ${USER}\r\n${field}: ${value}\r\n`;
        assert.equal(
          await send(`${header}Subject: x\r\n\r\nbody\r\n`),
          `553 5.7.1 <${rejected}>: ${claim} header address rejected: not owned by user ${USER}`,
        );
      });
    }

    test('bypass: a quoted display name naming a quoted local part with a space is 553 5.7.1 (found by the differential property)', async () => {
      const reply = await send(`From: "\\"alice \\"@example.org" <anyone@alice.example>\r\nSubject: x\r\n\r\nbody\r\n`);
      assert.match(reply, /^553 5\.7\.1 <[^>]*alice[^>]*@example\.org>: From header address rejected: not owned by user /);
    });

    test('owned mailboxes pass in every form: display names, comments, encoded words, the own address repeated', async () => {
      for (const header of [
        `From: Alice <${USER}>`,
        `From: "Alice Example" <${USER}>`,
        `From: "${USER}" <${USER}>`,
        `From: =?utf-8?q?${USER.replace('@', '=40')}?= <${USER}>`,
        `From: =?utf-8?q?J=C3=BCrgen?= <${USER}>`,
        `From: John Q. Public <${USER}>`,
        `From: ${USER} (Alice at home)`,
        `From: Alice (work) <sales@example.org>, anyone@alice.example`,
        `From: ${USER}\r\nSender: Sales <sales@example.org>\r\nResent-From: anyone@alice.example\r\nResent-Sender: ${USER}`,
        `From:\r\n Alice\r\n <${USER}>`,
        `From : ${USER}`,
        `From: "Alice \\"Al\\" Example" <${USER}>`,
      ]) {
        assert.match(await send(`${header}\r\nSubject: x\r\n\r\nbody\r\n`), /^250 2\.0\.0 Ok: queued as /, header);
      }
    });

    test('Reply-To is not an ownership claim: replies may go to any address', async () => {
      assert.match(await send(`From: ${USER}\r\nReply-To: support@vendor.example\r\nSubject: x\r\n\r\nbody\r\n`), /^250 /);
    });

    test('bypass: a From of 3,000 folded mailboxes is 550 5.6.0 before any policy call', async () => {
      senderQuestions.length = 0;
      const mailboxes = Array.from({ length: 3_000 }, (_, i) => `x${i}@alice.example`).join(',\r\n ');
      assert.equal(
        await send(`From: ${mailboxes}\r\nSubject: x\r\n\r\nbody\r\n`),
        '550 5.6.0 Message rejected: From header names more than 10 mailboxes',
      );
      assert.deepEqual(senderQuestions, []);
    });

    test('ten mailboxes pass, duplicates asked once: at most 10 policy calls per message', async () => {
      senderQuestions.length = 0;
      const distinct = Array.from({ length: 9 }, (_, i) => `y${i}@alice.example`);
      const from = [USER, ...distinct].join(', ');
      const sender = distinct.map((address) => address.toUpperCase()).slice(0, 3).join(', ');
      const reply = await send(`From: ${from}\r\nSender: ${distinct[0]}\r\nResent-From: ${sender}\r\nSubject: x\r\n\r\nbody\r\n`);
      assert.match(reply, /^250 /);
      assert.deepEqual([...senderQuestions].sort(), [...distinct].sort());
    });

    test('a message whose sender fields name more than 10 distinct addresses is 550 5.6.0', async () => {
      const from = Array.from({ length: 6 }, (_, i) => `f${i}@alice.example`).join(', ');
      const resent = Array.from({ length: 6 }, (_, i) => `r${i}@alice.example`).join(', ');
      assert.equal(
        await send(`From: ${from}\r\nResent-From: ${resent}\r\nSubject: x\r\n\r\nbody\r\n`),
        '550 5.6.0 Message rejected: the sender fields name more than 10 addresses',
      );
    });
  });

  describe('header field names are RFC 5322 field names', () => {
    test('bypass: a NUL in a field name is 550 5.6.0', async () => {
      assert.equal(await send(`From: ${USER}\r\nX-SES-CONFIGURATION-SET\x00: other-team\r\n\r\nbody\r\n`), '550 5.6.0 Message rejected: NUL character in message');
    });
    for (const [header, why] of [
      ['X-SES\r\n -CONFIGURATION-SET: other-team', 'a name folded across lines'],
      ['X-SES-CONFIGURATION-S\u00c9T: other-team', 'an 8-bit byte in the name'],
      ['X-SES\u2010CONFIGURATION-SET: other-team', 'a Unicode lookalike hyphen in the name'],
      ['X SES: other-team', 'a space inside the name'],
      ['No colon on this line', 'a line without a colon'],
      [': no name', 'an empty name'],
    ] as const) {
      test(`bypass: ${why} is 550 5.6.0`, async () => {
        const reply = await send(`From: ${USER}\r\n${header}\r\nSubject: x\r\n\r\nbody\r\n`);
        assert.equal(reply, '550 5.6.0 Message rejected: malformed header field name (RFC 5322 2.2)');
      });
    }

    test('a header section that starts with a folded line is 550 5.6.0', async () => {
      assert.equal(await send(` X-Orphan: x\r\nFrom: ${USER}\r\n\r\nbody\r\n`), '550 5.6.0 Message rejected: malformed header field name (RFC 5322 2.2)');
    });

    test('X-SES-* is dropped whatever the case and white space before the colon', async () => {
      const reply = await send(`From: ${USER}\r\nx-Ses-Configuration-Set : other-team\r\nX-SES-TAGS\t: a=b\r\nSubject: x\r\n\r\nbody\r\n`);
      const message = (await relay.outbox()).find((m) => m.id === queuedId(reply));
      assert.ok(message, reply);
      assert.doesNotMatch(message.raw.toString('utf8'), /x-ses/i);
    });

    test('bypass: a NUL byte anywhere in DATA is 550 5.6.0', async () => {
      for (const message of [`From: ${USER}\r\nSubject: a\x00b\r\n\r\nbody\r\n`, `From: ${USER}\r\nSubject: x\r\n\r\nbo\x00dy\r\n`]) {
        assert.equal(await send(message), '550 5.6.0 Message rejected: NUL character in message');
      }
    });
  });

  describe('MAIL parameters and AUTH identities', () => {
    const mail = async (parameters: string) => {
      const smtp = await connectAuthenticated(relay, USER, PASSWORD);
      const reply = await smtp.command(`MAIL FROM:<${USER}> ${parameters}`);
      smtp.close();
      return reply.text;
    };
    for (const parameter of ['SIZE=12x', 'SIZE=-1', 'BODY=9BIT', 'BODY=8BITMIME\u00e9']) {
      test(`MAIL ... ${JSON.stringify(parameter)} is 501 5.5.4 (smtp-server's own check)`, async () => {
        assert.match(await mail(parameter), /^501 5\.5\.4 /);
      });
    }
    for (const parameter of ['AUTH=a\u030d\u030ab@example.org', 'AUTH=alice', 'AUTH=<alice@example.org>', 'AUTH=a\u00e9@example.org']) {
      test(`MAIL ... ${JSON.stringify(parameter)} is 501 5.5.4`, async () => {
        assert.equal(await mail(parameter), '501 5.5.4 Bad MAIL parameter value');
      });
    }
    for (const parameters of ['SIZE=1000 BODY=8BITMIME AUTH=<>', 'BODY=7BIT AUTH=alice+2Bx@example.org', 'AUTH=alice@example.org']) {
      test(`MAIL ... ${parameters} is accepted`, async () => {
        assert.match(await mail(parameters), /^250 /);
      });
    }

    test('an AUTH identity outside the grammar of a login is 535 and is logged only in printable form', async () => {
      const session = await connectSecure(relay);
      await session.command('EHLO client.test');
      const hostile = `ceo\u030d\u030a@corp.example`;
      assert.equal((await session.command(`AUTH PLAIN ${plainToken(hostile, PASSWORD)}`)).code, 535);
      session.close();
      assert.ok(!relay.logText().includes('\u030d'), 'the raw identity is not in the log');
      assert.ok(relay.logLines().some((line) => line.event === 'auth-failed' && line.login === 'ceo??@corp.example'));
    });
  });
});

describe('checks judge the bytes that leave', () => {
  const session = (hostNameAppearsAs: string) =>
    ({ hostNameAppearsAs, remoteAddress: '127.0.0.1', transmissionType: 'ESMTPSA', id: 'abc', tlsOptions: false }) as unknown as SMTPServerSession;
  const CLIENT = Buffer.from(`From: ${USER}\r\nSubject: x\r\n\r\n`);

  test('the trace header is printable ASCII whatever the session holds: a name outside the grammar is written unknown', () => {
    const trace = traceHeader({ hostname: 'relay.test', session: session('x\u030d\u030aFrom: ceo@corp.example'), date: new Date(0) });
    assert.match(trace.toString('utf8'), /^Received: from unknown \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test /);
    assert.ok(trace.every((byte) => byte === 0x09 || byte === 0x0d || byte === 0x0a || (byte >= 0x20 && byte <= 0x7e)));
  });

  test('a From or an X-SES-* field above the client header is judged, not passed', () => {
    const forgedFrom = outgoingHeaderSection(Buffer.from('Received: from x\r\nFrom: ceo@corp.example\r\n'), CLIENT);
    assert.ok(forgedFrom.ok);
    assert.deepEqual(claimedSenders(forgedFrom.fields), { ok: false, problem: 'more than one From header' });
    assert.throws(() => outgoingHeaderSection(Buffer.from('Received: from x\r\nX-SES-CONFIGURATION-SET: other-team\r\n'), CLIENT), /outgoing header section/);
  });

  test('the section judged is the section sent, byte for byte', () => {
    const trace = traceHeader({ hostname: 'relay.test', session: session('client.test'), date: new Date(0) });
    const outgoing = outgoingHeaderSection(trace, Buffer.from(`From: ${USER}\r\nX-SES-TAGS: a=b\r\nSubject: x\r\n\r\n`));
    assert.ok(outgoing.ok);
    assert.deepEqual(outgoing.section, Buffer.concat([trace, Buffer.from(`From: ${USER}\r\nSubject: x\r\n\r\n`)]));
    assert.deepEqual(Buffer.concat(outgoing.fields.map((field) => field.raw)), outgoing.section.subarray(0, -2));
  });
});
