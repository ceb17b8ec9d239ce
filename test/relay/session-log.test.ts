import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CommandTally } from '../../relay/command-tally.ts';
import { SmtpDialogue, plainToken } from '../support/smtp-dialogue.ts';
import { connectAuthenticated, connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { until } from '../support/until.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

type LogLine = Record<string, unknown>;

describe("the session log: every refusal, Postfix's disconnect summary, outages above info", () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay({ policyTransport: 'lambda', env: { POLICY_CACHE_SECONDS: '0' } });
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  /** Every line of one session, once its disconnect line is there. */
  const sessionLines = async (session: string): Promise<LogLine[]> => {
    const lines = () => relay.logLines().filter((line) => line.session === session);
    await until(() => lines().some((line) => line.event === 'disconnect'), `the disconnect line of ${session}`);
    return lines();
  };
  /** The session id of the latest connect line: each test here runs one session at a time. */
  const lastSession = () => String(relay.logLines().filter((line) => line.event === 'connect').at(-1)?.session);

  test('a printer that never starts TLS: its refused MAIL is logged, and the disconnect line says how far it got', async () => {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read();
    const session = lastSession();
    assert.equal((await smtp.command('EHLO printer.test')).code, 250);
    assert.equal((await smtp.command('MAIL FROM:<printer@example.org>')).code, 530);
    assert.equal((await smtp.command('QUIT')).code, 221);
    await smtp.waitClosed();

    const lines = await sessionLines(session);
    assert.deepEqual(lines.map((line) => line.event), ['connect', 'reject', 'disconnect']);
    const [, reject, disconnect] = lines as [LogLine, LogLine, LogLine];
    assert.equal(reject.msg, 'reject: MAIL from [127.0.0.1]: 530 5.7.0 Must issue a STARTTLS command first');
    assert.equal(reject.reason, 'tls-required');
    assert.equal(reject.level, 'info');
    assert.equal(disconnect.msg, 'disconnect from [127.0.0.1] ehlo=1 mail=0/1 quit=1 commands=2/3');
    assert.deepEqual(disconnect.commands, { ehlo: '1', mail: '0/1', quit: '1', commands: '2/3' });
  });

  test('a whole submission counts every command once, AUTH exchanges and DATA included', async () => {
    const smtp = await connectSecure(relay);
    const session = lastSession();
    await smtp.command('EHLO client.test');
    // AUTH LOGIN's two 334 prompts are one command.
    assert.equal((await smtp.command('AUTH LOGIN')).code, 334);
    assert.equal((await smtp.command(Buffer.from(USER).toString('base64'))).code, 334);
    assert.equal((await smtp.command(Buffer.from(PASSWORD).toString('base64'))).code, 235);
    assert.equal((await smtp.command(`MAIL FROM:<${USER}>`)).code, 250);
    assert.equal((await smtp.command('RCPT TO:<someone@example.net>')).code, 250);
    assert.equal((await smtp.command('DATA')).code, 354);
    smtp.write(`From: ${USER}\r\nSubject: counted\r\n\r\nhello\r\n.\r\n`);
    assert.equal((await smtp.read()).code, 250);
    assert.equal((await smtp.command('QUIT')).code, 221);
    await smtp.waitClosed();

    const disconnect = (await sessionLines(session)).find((line) => line.event === 'disconnect')!;
    assert.equal(disconnect.msg, 'disconnect from [127.0.0.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8');
    assert.equal(disconnect.login, USER);
  });

  test("the library's own refusals are logged too, and a failed AUTH and an unknown verb are counted as failed", async () => {
    const smtp = await connectSecure(relay);
    const session = lastSession();
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command('RCPT TO:<someone@example.net>')).code, 530);
    assert.equal((await smtp.command(`AUTH PLAIN ${plainToken(USER, 'not the password')}`)).code, 535);
    assert.equal((await smtp.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).code, 235);
    assert.equal((await smtp.command('RCPT TO:<someone@example.net>')).code, 503);
    // A verb nobody knows: counted and logged as `unknown command`, never with the client's bytes.
    assert.equal((await smtp.command('X\x1b[2JEVIL')).code, 500);
    assert.equal((await smtp.command('EXPN staff')).code, 502);
    smtp.close();

    const lines = await sessionLines(session);
    const rejects = lines.filter((line) => line.event === 'reject').map((line) => [line.stage, line.code, line.reason]);
    assert.deepEqual(rejects, [
      ['RCPT', 530, 'protocol'],
      ['RCPT', 503, 'protocol'],
      ['unknown command', 500, 'protocol'],
      ['EXPN', 502, 'not-offered'],
    ]);
    assert.ok(lines.some((line) => line.event === 'auth-failed'), 'the failed AUTH has its own line');
    assert.ok(!relay.logText().includes('EVIL'), "the client's unknown verb is not in the log");
    const disconnect = lines.find((line) => line.event === 'disconnect')!;
    // The client hung up without QUIT.
    assert.equal(disconnect.msg, 'disconnect from [127.0.0.1] ehlo=2 starttls=1 auth=1/2 rcpt=0/2 expn=0/1 unknown=0/1 commands=4/9');
  });

  test('a policy outage and an SES failure are logged as error, a client mistake as info', async () => {
    relay.stack.lambda!.faults.arm('function-error', 2);
    const smtp = await connectSecure(relay);
    const session = lastSession();
    await smtp.command('EHLO client.test');
    assert.equal((await smtp.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).code, 454);
    smtp.close();
    const outage = (await sessionLines(session)).find((line) => line.event === 'reject')!;
    assert.equal(outage.reason, 'auth-unavailable');
    assert.equal(outage.level, 'error');
    relay.stack.lambda!.faults.clear();

    const sender = await connectAuthenticated(relay, USER, PASSWORD);
    const senderSession = lastSession();
    await sender.command(`MAIL FROM:<${USER}>`);
    await sender.command('RCPT TO:<someone@example.net>');
    await sender.command('DATA');
    relay.stack.ses.faults.arm('unavailable', 1);
    sender.write(`From: ${USER}\r\nSubject: outage\r\n\r\nhello\r\n.\r\n`);
    assert.equal((await sender.read()).code, 451);
    relay.stack.ses.faults.clear();
    assert.equal((await sender.command('MAIL FROM:<boss@example.org>')).code, 553);
    sender.close();
    const levels = (await sessionLines(senderSession)).filter((line) => line.event === 'reject').map((line) => [line.reason, line.level]);
    assert.deepEqual(levels, [['ses-error', 'error'], ['sender-not-owned', 'info']]);
  });

  test('no message ends in a dangling separator', () => {
    const dangling = relay.logLines().filter((line) => /[;:,]\s*$/.test(String(line.msg)));
    assert.deepEqual(dangling, []);
  });
});

describe("CommandTally writes Postfix's summary", () => {
  test('all succeeded: bare counts; some failed: ok/total; nothing said: commands=0/0', () => {
    const tally = new CommandTally();
    assert.equal(tally.summary(), 'commands=0/0');
    for (const [verb, ok] of [['QUIT', true], ['EHLO', true], ['AUTH', false], ['AUTH', true], ['BOGUS', false]] as const) tally.record(verb, ok);
    // Postfix's order, whatever the order of the session.
    assert.equal(tally.summary(), 'ehlo=1 auth=1/2 quit=1 unknown=0/1 commands=3/5');
  });
});
