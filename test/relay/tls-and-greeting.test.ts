import assert from 'node:assert/strict';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { SmtpDialogue, plainToken } from '../support/smtp-dialogue.ts';
import { connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

describe('ports and TLS (SMTP.md "Ports and TLS")', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay();
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  test('587 greets in plaintext with 220 and ESMTP', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    const greeting = await smtp.read();
    assert.equal(greeting.code, 220);
    assert.match(greeting.text, /^220 relay\.test ESMTP /);
    assert.equal(smtp.tlsProtocol, null);
    smtp.close();
  });

  test('465 starts TLS at once and greets inside it', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionsPort, { implicitTls: true });
    assert.match(smtp.tlsProtocol ?? '', /^TLSv1\.[23]$/);
    const greeting = await smtp.read();
    assert.match(greeting.text, /^220 relay\.test ESMTP /);
    smtp.close();
  });

  test('EHLO before TLS offers STARTTLS and the basics, never AUTH or what SES cannot honour', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read();
    const ehlo = await smtp.command('EHLO client.test');
    assert.equal(ehlo.code, 250);
    const keywords = ehlo.lines.slice(1).map((line) => line.split(' ')[0]);
    for (const wanted of ['STARTTLS', 'PIPELINING', 'ENHANCEDSTATUSCODES', '8BITMIME', 'SIZE']) {
      assert.ok(keywords.includes(wanted), `${wanted} offered`);
    }
    for (const unwanted of ['AUTH', 'SMTPUTF8', 'DSN', 'REQUIRETLS', 'CHUNKING']) {
      assert.ok(!keywords.includes(unwanted), `${unwanted} not offered`);
    }
    const size = ehlo.lines.find((line) => line.startsWith('SIZE '));
    assert.equal(size, `SIZE ${40_000_000 - 1_000}`);
    smtp.close();
  });

  test('STARTTLS answers 220 2.0.0, and 501 5.5.4 with an argument', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read();
    await smtp.command('EHLO client.test');
    assert.match((await smtp.command('STARTTLS now')).text, /^501 5\.5\.4 /);
    const reply = await smtp.startTls();
    assert.equal(reply.text, '220 2.0.0 Ready to start TLS');
    assert.match(smtp.tlsProtocol ?? '', /^TLSv1\.[23]$/);
    smtp.close();
  });

  for (const port of ['submission', 'submissions'] as const) {
    test(`EHLO inside TLS (${port}) offers AUTH PLAIN LOGIN and no STARTTLS`, async () => {
      const smtp = await connectSecure(relay, port);
      const ehlo = await smtp.command('EHLO client.test');
      assert.ok(ehlo.lines.includes('AUTH PLAIN LOGIN'), ehlo.text);
      assert.ok(!ehlo.lines.includes('STARTTLS'), ehlo.text);
      smtp.close();
    });
  }

  test('before TLS, everything but EHLO/HELO/NOOP/STARTTLS/QUIT is 530 5.7.0 Must issue a STARTTLS command first', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read();
    assert.equal((await smtp.command('EHLO client.test')).code, 250);
    assert.equal((await smtp.command('HELO client.test')).code, 250);
    assert.equal((await smtp.command('NOOP')).text, '250 2.0.0 OK');
    for (const command of [
      `AUTH PLAIN ${plainToken(USER, PASSWORD)}`,
      'AUTH LOGIN',
      'MAIL FROM:<john@example.org>',
      'RCPT TO:<someone@example.net>',
      'DATA',
      'RSET',
      'VRFY john',
      'HELP',
    ]) {
      assert.equal((await smtp.command(command)).text, '530 5.7.0 Must issue a STARTTLS command first', command);
    }
    assert.equal((await smtp.command('QUIT')).text, '221 2.0.0 Bye');
    smtp.close();
  });

  test('TLS below 1.2 is refused at the handshake, 1.2 is accepted', async () => {
    const attempt = (version: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: relay.submissionsPort,
          rejectUnauthorized: false,
          minVersion: 'TLSv1',
          maxVersion: version,
          ciphers: 'DEFAULT@SECLEVEL=0',
        });
        socket.once('secureConnect', () => {
          resolve(socket.getProtocol() ?? 'none');
          socket.destroy();
        });
        socket.once('error', () => resolve('refused'));
      });
    assert.equal(await attempt('TLSv1.1'), 'refused');
    assert.equal(await attempt('TLSv1'), 'refused');
    assert.equal(await attempt('TLSv1.2'), 'TLSv1.2');
  });

  test('after STARTTLS all earlier state is forgotten and pipelined plaintext is never executed', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read();
    await smtp.command('EHLO client.test');
    // STARTTLS with a command smuggled behind it in the same segment (CVE-2011-0411 class).
    smtp.write('STARTTLS\r\nNOOP\r\n');
    const ready = await smtp.read();
    assert.equal(ready.code, 220);
    // The stray NOOP must not have been answered in plaintext either.
    assert.equal(smtp.pendingReplies, 0, 'nothing answered the smuggled NOOP in plaintext');
    await smtp.upgrade();
    // The first reply inside TLS answers our first TLS command, not the smuggled NOOP.
    assert.match((await smtp.command('MAIL FROM:<john@example.org>')).text, /^503 5\.5\.1 .*HELO\/EHLO/);
    const ehlo = await smtp.command('EHLO client.test');
    assert.equal(ehlo.code, 250);
    assert.ok(ehlo.lines.includes('AUTH PLAIN LOGIN'));
    smtp.close();
  });
});

