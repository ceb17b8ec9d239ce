import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Transporter } from 'nodemailer';
import { connectAuthenticated, connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { plainToken, type SmtpDialogue } from '../support/smtp-dialogue.ts';

const PASSWORD = 'correct horse battery staple';
const CARELESS = 'newsletter@example.org';
const CAREFUL = 'billing@example.org';
const SIMULATOR = 'simulator.amazonses.com';

/** Small thresholds so that a handful of messages show every step. */
const THRESHOLDS = {
  minimumSent: 10,
  bounceRate: { warn: 0.1, throttle: 0.2, suspend: 0.3 },
  throttledMessagesPerMinute: 1000,
};

describe('reputation guard, end to end through the SES mailbox simulator', () => {
  let relay: TestRelay;
  const transports = new Map<string, Transporter>();

  before(async () => {
    relay = await startTestRelay({
      // The feed read often, so that the suspension reaches the open session well inside the test's wait.
      env: { REPUTATION_THRESHOLDS: JSON.stringify(THRESHOLDS), REVOCATION_POLL_MS: '100', REVOCATION_BOUND_SECONDS: '2' },
    });
    for (const login of [CARELESS, CAREFUL]) {
      await relay.addUser(login, PASSWORD);
      transports.set(login, relay.transport({ user: login, pass: PASSWORD }));
    }
  });
  after(async () => {
    for (const transport of transports.values()) transport.close();
    await relay.close();
  });

  /** Sends one message and waits until the reputation function has handled its events. */
  const send = async (login: string, to: string): Promise<string> => {
    const info = await transports.get(login)!.sendMail({ from: login, to, subject: 'reputation', text: 'hello' });
    await relay.stack.reputation.settled();
    const id = /queued as (\S+)$/.exec(String(info.response))?.[1];
    assert.ok(id, info.response);
    return id;
  };
  /** MAIL on an open session until the relay refuses it (the feed is read every 100 ms here); fails after 5 s. */
  const mailUntilRefused = async (smtp: SmtpDialogue, login: string) => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const reply = await smtp.command(`MAIL FROM:<${login}>`);
      if (reply.code !== 250) return reply;
      await smtp.command('RSET');
      if (Date.now() > deadline) throw new Error('the open session was never refused');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const restrictionOf = async (login: string) => (await relay.stack.store.getUser(login))?.restriction;
  const userIdOf = async (login: string) => (await relay.stack.store.getUser(login))!.userId!;

  test('every message names its user by a stable id: in the SES tag and in the sent log line', async () => {
    const id = await send(CAREFUL, `success@${SIMULATOR}`);
    const userId = await userIdOf(CAREFUL);
    assert.match(userId, /^[A-Za-z0-9_-]{20}$/, "SES's tag alphabet, no address in it");
    const meta = (await relay.outbox()).find((message) => message.id === id)!.meta;
    assert.deepEqual(meta.tags, [{ name: 'relay-user', value: userId }]);
    const sent = relay.logLines().find((line) => line.event === 'sent' && line.sesMessageId === id);
    assert.equal(sent?.relayUser, userId);
    assert.match(String(sent?.msg), new RegExp(`relay-user=${userId}$`));
  });

  test('a user who keeps sending to bounce@ is warned, throttled and suspended at the thresholds; the other user is untouched', async () => {
    for (let i = 0; i < 10; i++) await send(CARELESS, `success@${SIMULATOR}`);
    for (let i = 0; i < 9; i++) await send(CAREFUL, `success@${SIMULATOR}`);
    await send(CAREFUL, `bounce@${SIMULATOR}`);
    assert.equal(await restrictionOf(CARELESS), undefined, '0 of 10 bounced');

    // 1 of 11 recipients (9.1 %): under the 10 % warning.
    await send(CARELESS, `bounce@${SIMULATOR}`);
    assert.equal(await restrictionOf(CARELESS), undefined);
    // 2 of 12 (16.7 %): warned.
    await send(CARELESS, `bounce@${SIMULATOR}`);
    const warned = await restrictionOf(CARELESS);
    assert.equal(warned?.state, 'warned');
    assert.equal(warned?.by, 'reputation');
    assert.match(warned!.reason, /^bounce rate 16\.7 % over the last 24 h \(2 of 12 recipients; warned at 10 %\)$/);
    // 3 of 13 (23.1 %): throttled, to the configured rate.
    await send(CARELESS, `bounce@${SIMULATOR}`);
    const throttled = await restrictionOf(CARELESS);
    assert.equal(throttled?.state, 'throttled');
    assert.equal(throttled?.messagesPerMinute, THRESHOLDS.throttledMessagesPerMinute);
    // 4 of 14 (28.6 %): still throttled; 5 of 15 (33.3 %): suspended.
    await send(CARELESS, `bounce@${SIMULATOR}`);
    assert.equal((await restrictionOf(CARELESS))?.state, 'throttled');
    // A session of the careless user, open and authenticated before the suspension.
    const open = await connectAuthenticated(relay, CARELESS, PASSWORD);
    assert.equal((await open.command(`MAIL FROM:<${CARELESS}>`)).code, 250);
    assert.equal((await open.command('RSET')).code, 250);
    await send(CARELESS, `suppressionlist@${SIMULATOR}`);
    const suspended = await restrictionOf(CARELESS);
    assert.equal(suspended?.state, 'suspended');
    assert.match(suspended!.reason, /^bounce rate 33\.3 % over the last 24 h \(5 of 15 recipients; suspended at 30 %\)$/);

    // The suspension reaches the open session through the revocation feed: MAIL is refused, saying why.
    const refusal = await mailUntilRefused(open, CARELESS);
    assert.equal(refusal.code, 550);
    assert.match(refusal.text, /^550 5\.7\.1 Account suspended: bounce rate 33\.3 % over the last 24 h .*contact /);
    open.close();
    // A new login with the right password is told the same.
    const fresh = await connectSecure(relay);
    await fresh.command('EHLO client.test');
    const auth = await fresh.command(`AUTH PLAIN ${plainToken(CARELESS, PASSWORD)}`);
    fresh.close();
    assert.equal(auth.code, 550);
    assert.match(auth.text, /^550 5\.7\.1 Account suspended: bounce rate 33\.3 %/);
    // The careful user goes on sending through the same relay.
    await send(CAREFUL, `success@${SIMULATOR}`);

    // The careful user sent to the same simulator through the same relay: 1 of 11 bounced (9.1 %).
    assert.equal(await restrictionOf(CAREFUL), undefined);
    const windows = await relay.stack.reputation.store.windows(await userIdOf(CAREFUL));
    assert.deepEqual(windows['24 h'], { sent: 12, delivered: 11, hardBounces: 1, softBounces: 0, complaints: 0, rejects: 0, delays: 0 });

    const steps = relay.logLines().filter((line) => line.event === 'reputation-step').map((line) => `${line.login} ${line.step}`);
    assert.deepEqual(steps, [`${CARELESS} warned`, `${CARELESS} throttled`, `${CARELESS} suspended`]);
  });

  test('ooto@ and complaint@ are delivered; complaint@ also counts a complaint; the trail follows the message', async () => {
    const login = 'support@example.org';
    await relay.addUser(login, PASSWORD);
    transports.set(login, relay.transport({ user: login, pass: PASSWORD }));
    await send(login, `ooto@${SIMULATOR}`);
    const id = await send(login, `complaint@${SIMULATOR}`);
    const windows = await relay.stack.reputation.store.windows(await userIdOf(login));
    assert.deepEqual(windows['7 days'], { sent: 2, delivered: 2, hardBounces: 0, softBounces: 0, complaints: 1, rejects: 0, delays: 0 });
    const [message] = await relay.stack.reputation.store.findMessages(id);
    assert.deepEqual(message?.trail.map((entry) => entry.type), ['Send', 'Delivery', 'Complaint']);
    assert.deepEqual(message?.destination, [`complaint@${SIMULATOR}`]);
    assert.equal(message?.userId, await userIdOf(login));
    assert.ok(message?.messageIdHeader, 'nodemailer writes a Message-ID');
    const [byHeader] = await relay.stack.reputation.store.findMessages(message!.messageIdHeader!);
    assert.equal(byHeader?.sesMessageId, id, 'found by its Message-ID header too');
  });
});
