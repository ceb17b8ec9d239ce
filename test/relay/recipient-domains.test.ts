import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startLoopbackDnsServer, type LoopbackDnsServer } from '../support/loopback-dns-server.ts';
import { connectAuthenticated, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

describe("recipient domains that cannot receive mail (Postfix's reject_unknown_recipient_domain)", () => {
  let dns: LoopbackDnsServer;
  let relay: TestRelay;
  before(async () => {
    dns = await startLoopbackDnsServer({
      'mx.example': { mx: [{ preference: 10, exchange: 'mail.mx.example' }] },
      'a-only.example': { a: ['192.0.2.1'] },
      'v6-only.example': { aaaa: ['2001:db8::1'] },
      'nullmx.example': { mx: [{ preference: 0, exchange: '' }] },
      'nodata.example': {},
      'servfail.example': 'servfail',
      'silent.example': 'silent',
    });
    relay = await startTestRelay({
      env: { RECIPIENT_DOMAIN_CHECK: 'on', RECIPIENT_DNS_SERVERS: dns.address, RECIPIENT_DNS_TIMEOUT_MS: '300' },
    });
    await relay.addUser(USER, PASSWORD);
  });
  after(async () => {
    await relay.close();
    await dns.close();
  });

  const rcpt = async (address: string) => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    await smtp.command(`MAIL FROM:<${USER}>`);
    const reply = await smtp.command(`RCPT TO:<${address}>`);
    smtp.close();
    return reply.text;
  };

  test('a domain with MX records is accepted, and was really looked up', async () => {
    assert.equal(await rcpt('someone@mx.example'), '250 2.1.5 Accepted');
    assert.ok(dns.queries.includes('MX mx.example'));
  });

  test('a domain with only an address record is accepted (implicit MX)', async () => {
    assert.equal(await rcpt('someone@a-only.example'), '250 2.1.5 Accepted');
    assert.equal(await rcpt('someone@v6-only.example'), '250 2.1.5 Accepted');
  });

  test('a domain that does not exist is 550 5.1.2', async () => {
    assert.equal(await rcpt('someone@nowhere.example'), '550 5.1.2 <someone@nowhere.example>: Recipient address rejected: Domain not found');
  });

  test('a null MX (RFC 7505) is 550 5.1.2', async () => {
    assert.equal(await rcpt('someone@nullmx.example'), '550 5.1.2 <someone@nullmx.example>: Recipient address rejected: Domain does not accept mail');
  });

  test('a domain with no MX and no address is 550 5.1.2', async () => {
    assert.match(await rcpt('someone@nodata.example'), /^550 5\.1\.2 .*no mail exchanger/);
  });

  test('a DNS failure or timeout is temporary: 450 4.1.2', async () => {
    assert.match(await rcpt('someone@servfail.example'), /^450 4\.1\.2 .*temporary DNS failure/);
    assert.match(await rcpt('someone@silent.example'), /^450 4\.1\.2 .*temporary DNS failure/);
  });

  test('the accepted recipients of a transaction stay when one is refused', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    await smtp.command(`MAIL FROM:<${USER}>`);
    assert.equal((await smtp.command('RCPT TO:<a@mx.example>')).code, 250);
    assert.equal((await smtp.command('RCPT TO:<b@nowhere.example>')).code, 550);
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write('From: john@example.org\r\n\r\nx\r\n.\r\n');
    const reply = await smtp.read();
    smtp.close();
    const id = reply.text.split(' ').pop();
    assert.deepEqual((await relay.outbox()).find((m) => m.id === id)?.meta.destinations, ['a@mx.example']);
  });
});
