import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectAuthenticated, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { until } from '../support/until.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

describe("per-user SES settings, and following one message through the log", () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ env: { SES_CONFIGURATION_SET: 'relay-default' } });
    await relay.addUser(USER, PASSWORD);
    await relay.addUser('sales-app@example.org', PASSWORD);
    await relay.stack.store.updateUser('sales-app@example.org', {
      settings: { configurationSet: 'team-sales', messageTags: { team: 'sales', app: 'crm' } },
    });
  });
  after(() => relay.close());

  const send = async (login: string) => {
    const smtp = await connectAuthenticated(relay, login, PASSWORD);
    await smtp.command(`MAIL FROM:<${login}>`);
    await smtp.command('RCPT TO:<someone@example.net>');
    await smtp.command('RCPT TO:<hidden@example.net>');
    await smtp.command('DATA');
    smtp.write(`From: ${login}\r\nX-SES-CONFIGURATION-SET: someone-elses\r\nSubject: settings\r\n\r\nhello\r\n.\r\n`);
    const reply = await smtp.read();
    smtp.close();
    const id = /queued as (\S+)$/.exec(reply.text)?.[1];
    assert.ok(id, reply.text);
    return id;
  };

  test("a user's own configuration set and tags go to SES; others get the relay's default", async () => {
    const teamId = await send('sales-app@example.org');
    const plainId = await send(USER);
    const outbox = await relay.outbox();
    const idOf = async (login: string) => (await relay.stack.store.getUser(login))!.userId!;
    const team = outbox.find((m) => m.id === teamId)!.meta;
    assert.equal(team.configurationSet, 'team-sales');
    assert.deepEqual(team.tags, [{ name: 'team', value: 'sales' }, { name: 'app', value: 'crm' }, { name: 'relay-user', value: await idOf('sales-app@example.org') }]);
    const plain = outbox.find((m) => m.id === plainId)!.meta;
    assert.equal(plain.configurationSet, 'relay-default');
    assert.deepEqual(plain.tags, [{ name: 'relay-user', value: await idOf(USER) }], 'every message names its user');
  });

  test('one message is followed from connect to its SES id by its session id, with everything an admin needs', async () => {
    const id = await send(USER);
    const sent = relay.logLines().find((line) => line.event === 'sent' && line.sesMessageId === id);
    assert.ok(sent, 'the sent line names the SES message id');
    const eventsOf = () => relay.logLines().filter((line) => line.session === sent.session).map((line) => line.event);
    // The disconnect is logged once the server has seen the close.
    await until(() => eventsOf().includes('disconnect'), 'the disconnect line');
    assert.deepEqual(eventsOf(), ['connect', 'tls', 'auth', 'sent', 'disconnect']);
    assert.equal(sent.client, '127.0.0.1');
    assert.equal(sent.login, USER);
    assert.equal(sent.from, USER);
    assert.deepEqual(sent.to, ['someone@example.net', 'hidden@example.net']);
    assert.equal(typeof sent.size, 'number');
    assert.match(String(sent.msg), /^sent: from=<john@example\.org> nrcpt=2 size=\d+ ses=/);
    const outbox = await relay.outbox();
    assert.match(outbox.find((m) => m.id === id)!.raw.toString(), new RegExp(`with ESMTPSA id ${String(sent.session)};`), 'the Received header carries the same session id');
  });

  test('a refusal reads like Postfix and names the envelope', async () => {
    const smtp = await connectAuthenticated(relay, USER, PASSWORD);
    await smtp.command('MAIL FROM:<mary@example.org>');
    smtp.close();
    const reject = relay.logLines().find((line) => line.event === 'reject' && line.from === 'mary@example.org');
    assert.ok(reject);
    assert.equal(reject.code, 553);
    assert.equal(reject.reason, 'sender-not-owned');
    assert.equal(
      reject.msg,
      'reject: MAIL from [127.0.0.1]: 553 5.7.1 <mary@example.org>: Sender address rejected: not owned by user john@example.org; from=<mary@example.org>',
    );
  });
});
