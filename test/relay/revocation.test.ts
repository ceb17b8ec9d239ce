import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test, type TestContext } from 'node:test';
import { jsonOf, relayctl } from '../bin/relayctl-process.ts';
import { startLocalRelayProcess, type LocalRelayProcess } from '../faults/local-relay-process.ts';
import { SmtpDialogue, plainToken, type SmtpReply } from '../support/smtp-dialogue.ts';

const PASSWORD = 'correct horse battery staple';
const POLL_MS = 500;
const CONTACT = 'postmaster@example.org';
/** Long enough for a loaded machine, far shorter than the permit cache's TTL and the session limit below. */
const PATIENCE_MS = 60_000;
const REPLY_MS = 30_000;

/**
 * Issue #10 point 1 as an operator meets it: two relay processes ("tasks") on
 * one users table, changes made with relayctl as a child process, and both
 * relays refusing, for new logins and for sessions opened before the change.
 *
 * The permit cache's TTL is set to 300 s and sessions may last an hour, so a
 * refusal seen within PATIENCE_MS can only come from the change feed; how long
 * it took is printed (t.diagnostic), and the bound itself (fail closed after
 * REVOCATION_BOUND_SECONDS unread) is asserted in change-feed.test.ts, with a
 * clock the test moves.
 */
describe('revocation on every relay task, open sessions included', { timeout: 900_000 }, () => {
  let a: LocalRelayProcess;
  let b: LocalRelayProcess;
  const relays = () => [a, b] as const;
  const env = {
    POLICY_CACHE_SECONDS: '300',
    MAX_SESSION_SECONDS: '3600',
    REVOCATION_POLL_MS: String(POLL_MS),
    SUSPENSION_CONTACT: CONTACT,
    AUTH_PENALTY_BASE_MS: '0',
    MAX_CONNECTIONS_PER_CLIENT: '1000',
    AUTH_REFUSE_ADDRESS_AFTER: '100000',
    AUTH_REFUSE_LOGIN_AFTER: '100000',
  };

  before(async () => {
    a = await startLocalRelayProcess(env);
    b = await startLocalRelayProcess({ ...env, RELAY_DYNAMODB_ENDPOINT: a.dynamoEndpoint });
  });
  after(async () => {
    await b?.dispose();
    await a?.dispose();
  });

  /** relayctl on the users table both relays share (found through relay a's data dir). */
  const ctl = (args: readonly string[], stdin?: string) => relayctl(args, { dataDir: a.dataDir, ...(stdin !== undefined ? { stdin } : {}) });

  async function connect(relay: LocalRelayProcess): Promise<SmtpDialogue> {
    const smtp = await SmtpDialogue.connect(relay.submissionPort);
    await smtp.read(REPLY_MS);
    await smtp.command('EHLO client.test', REPLY_MS);
    assert.equal((await smtp.startTls()).code, 220);
    await smtp.command('EHLO client.test', REPLY_MS);
    return smtp;
  }

  async function login(relay: LocalRelayProcess, user: string, password = PASSWORD): Promise<{ smtp: SmtpDialogue; reply: SmtpReply }> {
    const smtp = await connect(relay);
    return { smtp, reply: await smtp.command(`AUTH PLAIN ${plainToken(user, password)}`, REPLY_MS) };
  }

  async function session(t: TestContext, relay: LocalRelayProcess, user: string): Promise<SmtpDialogue> {
    const { smtp, reply } = await login(relay, user);
    assert.equal(reply.code, 235, reply.text);
    t.after(() => smtp.close());
    return smtp;
  }

  /** One message in an open session; returns the reply that ended it (250 after DATA, or the first refusal). */
  async function send(smtp: SmtpDialogue, from: string): Promise<SmtpReply> {
    const mail = await smtp.command(`MAIL FROM:<${from}>`, REPLY_MS);
    if (mail.code !== 250) return mail;
    assert.equal((await smtp.command('RCPT TO:<someone@example.net>', REPLY_MS)).code, 250);
    assert.equal((await smtp.command('DATA', REPLY_MS)).code, 354);
    return smtp.command(`From: <${from}>\r\nSubject: revocation test\r\n\r\nhello\r\n.`, REPLY_MS);
  }

  /** MAIL FROM until it is refused (RSET after each 250); the refusal and how long it took. */
  async function mailUntilRefused(smtp: SmtpDialogue, from: string, since: number): Promise<{ reply: SmtpReply; ms: number }> {
    for (;;) {
      const reply = await smtp.command(`MAIL FROM:<${from}>`, REPLY_MS);
      if (reply.code !== 250) return { reply, ms: Date.now() - since };
      assert.ok(Date.now() - since < PATIENCE_MS, `MAIL FROM:<${from}> still accepted after ${PATIENCE_MS} ms`);
      assert.equal((await smtp.command('RSET', REPLY_MS)).code, 250);
      await sleep(100);
    }
  }

  async function addUser(user: string, grants: readonly string[] = []): Promise<void> {
    await a.addUser(user, PASSWORD, grants);
  }

  /** Opens a session on each relay and proves it sends (so its permits are cached). */
  async function warmSessions(t: TestContext, user: string, from = user): Promise<SmtpDialogue[]> {
    const sessions: SmtpDialogue[] = [];
    for (const relay of relays()) {
      const smtp = await session(t, relay, user);
      assert.equal((await send(smtp, from)).code, 250);
      sessions.push(smtp);
    }
    return sessions;
  }

  const changeApplied = (relay: LocalRelayProcess, user: string, kind: string) =>
    relay.logLines().some((line) => line.event === 'user-change' && line.login === user && line.kind === kind);

  /** Waits until both relays logged that they applied the change (`user-change`). */
  async function untilApplied(user: string, kind: string): Promise<void> {
    const deadline = Date.now() + PATIENCE_MS;
    while (!relays().every((relay) => changeApplied(relay, user, kind))) {
      assert.ok(Date.now() < deadline, `the ${kind} change of ${user} did not reach both relays within ${PATIENCE_MS} ms`);
      await sleep(50);
    }
  }

  const dynamoControl = (method: string, route: string, body?: unknown) =>
    fetch(`${a.dynamoEndpoint}/_control/${route}`, { method, ...(body ? { body: JSON.stringify(body) } : {}) }).then((response) => response.json() as Promise<Record<string, unknown>>);

  test('steady state: messages cost no read of the users table (counted at the DynamoDB stand-in)', async (t) => {
    // A granted address as sender, so that the sender check is a policy question (the login itself is not).
    await addUser('steady@example.org', ['steady-team@example.org']);
    await warmSessions(t, 'steady@example.org', 'steady-team@example.org');
    const before = (await dynamoControl('GET', 'stats')) as { operations: Record<string, number> };
    const started = Date.now();
    const messages = 8;
    for (let i = 0; i < messages; i++) {
      for (const relay of relays()) {
        const { smtp, reply } = await login(relay, 'steady@example.org');
        assert.equal(reply.code, 235);
        assert.equal((await send(smtp, 'steady-team@example.org')).code, 250);
        smtp.close();
      }
    }
    const elapsed = Date.now() - started;
    const afterStats = (await dynamoControl('GET', 'stats')) as { operations: Record<string, number> };
    const delta = (operation: string) => (afterStats.operations[operation] ?? 0) - (before.operations[operation] ?? 0);
    t.diagnostic(`${messages * 2} messages in ${elapsed} ms: GetItem ${delta('GetItem')}, Query ${delta('Query')} (the feed's polls), UpdateItem ${delta('UpdateItem')} (the counters)`);
    // AUTH and the sender check read the users table with GetItem; the feed polls with one Query a poll and task.
    assert.equal(delta('GetItem'), 0, 'no user or grant read per message');
    assert.equal(delta('Scan') + delta('BatchGetItem'), 0);
    const pollsAtMost = 2 * (Math.ceil(elapsed / POLL_MS) + 2);
    assert.ok(delta('Query') <= pollsAtMost, `${delta('Query')} Queries in ${elapsed} ms is more than two tasks polling every ${POLL_MS} ms (${pollsAtMost})`);
  });

  test('user disable: open sessions on both relays get 421 at their next MAIL, new logins 535', async (t) => {
    const user = 'disabled@example.org';
    await addUser(user);
    const sessions = await warmSessions(t, user);
    const changed = await ctl(['user', 'disable', user]);
    assert.equal(changed.code, 0, changed.stderr);
    const since = Date.now();
    for (const [i, smtp] of sessions.entries()) {
      const { reply, ms } = await mailUntilRefused(smtp, user, since);
      t.diagnostic(`relay ${i + 1}: refused ${ms} ms after relayctl returned`);
      assert.equal(reply.code, 421);
      assert.match(reply.text, /^421 4\.7\.0 .*credentials no longer valid/);
      assert.equal(await smtp.waitClosed(REPLY_MS), true, 'the connection is closed');
    }
    for (const relay of relays()) assert.equal((await login(relay, user)).reply.code, 535);
  });

  test('user passwd: sessions of the old password end, the old password fails, the new one works', async (t) => {
    const user = 'rotated@example.org';
    await addUser(user);
    const sessions = await warmSessions(t, user);
    const changed = await ctl(['user', 'passwd', user, '--password-stdin', '--yes'], 'a brand new passphrase\n');
    assert.equal(changed.code, 0, changed.stderr);
    const since = Date.now();
    for (const smtp of sessions) assert.equal((await mailUntilRefused(smtp, user, since)).reply.code, 421);
    for (const relay of relays()) {
      assert.equal((await login(relay, user)).reply.code, 535, 'the old password, cached before, no longer logs in');
      const fresh = await login(relay, user, 'a brand new passphrase');
      assert.equal(fresh.reply.code, 235);
      fresh.smtp.close();
    }
  });

  test('sender revoke: an open session is refused the revoked address (553) and keeps its own', async (t) => {
    const user = 'granted@example.org';
    await addUser(user, ['team@example.org']);
    const sessions = await warmSessions(t, user, 'team@example.org');
    const changed = await ctl(['sender', 'revoke', user, 'team@example.org']);
    assert.equal(changed.code, 0, changed.stderr);
    const since = Date.now();
    for (const smtp of sessions) {
      const { reply } = await mailUntilRefused(smtp, 'team@example.org', since);
      assert.equal(reply.text, `553 5.7.1 <team@example.org>: Sender address rejected: not owned by user ${user}`);
      assert.equal((await send(smtp, user)).code, 250, 'the session itself stands');
    }
  });

  test('user suspend: 550 5.7.1 with the reason and whom to ask, at MAIL and at AUTH (right password only); reinstate lets the user send again and is recorded', async (t) => {
    const user = 'bouncy@example.org';
    const reason = 'bounce rate 7.1 % over the last 24 h (threshold 4 %)';
    await addUser(user);
    const sessions = await warmSessions(t, user);
    const changed = await ctl(['user', 'suspend', user, '--reason', reason, '--by', 'ops-jane']);
    assert.equal(changed.code, 0, changed.stderr);
    const refusal = `550 5.7.1 Account suspended: ${reason}; to have it reinstated, contact ${CONTACT}`;
    const since = Date.now();
    for (const smtp of sessions) assert.equal((await mailUntilRefused(smtp, user, since)).reply.text, refusal);
    for (const relay of relays()) {
      assert.equal((await login(relay, user)).reply.text, refusal);
      assert.equal((await login(relay, user, 'not the password')).reply.code, 535, 'a wrong password learns nothing');
    }

    const reinstated = await ctl(['--json', 'user', 'reinstate', user, '--reason', 'list cleaned', '--by', 'ops-joe']);
    assert.deepEqual(jsonOf(reinstated), { login: user, reinstated: true, by: 'ops-joe', reason: 'list cleaned' });
    await untilApplied(user, 'reinstated');
    for (const relay of relays()) {
      const { smtp, reply } = await login(relay, user);
      assert.equal(reply.code, 235);
      assert.equal((await send(smtp, user)).code, 250);
      smtp.close();
    }
    const shown = jsonOf<{ restriction?: unknown; restrictionHistory: Array<{ action: string; by: string; reason: string }> }>(await ctl(['--json', 'user', 'show', user]));
    assert.equal(shown.restriction, undefined);
    assert.deepEqual(shown.restrictionHistory.map(({ action, by, reason: why }) => [action, by, why]), [
      ['restricted', 'ops-jane', reason],
      ['reinstated', 'ops-joe', 'list cleaned'],
    ]);
  });

  test('a revocation that lands during DATA is caught before SES: 421, and SES gets nothing', async (t) => {
    const user = 'midstream@example.org';
    await addUser(user);
    const sessions = await warmSessions(t, user);
    const sentBefore = await Promise.all(relays().map((relay) => outboxCount(relay)));
    for (const smtp of sessions) {
      assert.equal((await smtp.command(`MAIL FROM:<${user}>`, REPLY_MS)).code, 250);
      assert.equal((await smtp.command('RCPT TO:<someone@example.net>', REPLY_MS)).code, 250);
      assert.equal((await smtp.command('DATA', REPLY_MS)).code, 354);
      smtp.write(`From: <${user}>\r\nSubject: half a message\r\n\r\nfirst half\r\n`);
    }
    assert.equal((await ctl(['user', 'disable', user])).code, 0);
    await untilApplied(user, 'disabled');
    for (const smtp of sessions) {
      const reply = await smtp.command('second half\r\n.', REPLY_MS);
      assert.equal(reply.code, 421, reply.text);
    }
    assert.deepEqual(await Promise.all(relays().map((relay) => outboxCount(relay))), sentBefore, 'nothing reached SES');
  });

  test('feed outage: after the bound both relays fail closed (no cached permit, every session confirmed), and recover', async (t) => {
    const user = 'outage@example.org';
    const bystander = 'bystander@example.org';
    await addUser(user);
    await addUser(bystander);
    const sessions = await warmSessions(t, user);
    await dynamoControl('POST', 'fault', { fault: 'internal@Query' });
    t.after(() => dynamoControl('DELETE', 'fault'));
    const deadline = Date.now() + PATIENCE_MS;
    while (!relays().every((relay) => relay.logLines().some((line) => line.event === 'change-feed-stale'))) {
      assert.ok(Date.now() < deadline, 'both relays report the feed unread');
      await sleep(50);
    }
    for (const relay of relays()) {
      const { smtp, reply } = await login(relay, bystander);
      assert.equal(reply.code, 235);
      assert.equal((await send(smtp, bystander)).code, 250, 'mail still flows, each step asked of the policy');
      smtp.close();
    }
    // The feed cannot tell the relays; they act on it anyway, at once, because they ask the policy.
    assert.equal((await ctl(['user', 'disable', user])).code, 0);
    for (const smtp of sessions) assert.equal((await smtp.command(`MAIL FROM:<${user}>`, REPLY_MS)).code, 421);
    for (const relay of relays()) assert.equal((await login(relay, user)).reply.code, 535);

    await dynamoControl('DELETE', 'fault');
    const recovered = Date.now() + PATIENCE_MS;
    while (!relays().every((relay) => relay.logLines().some((line) => line.event === 'change-feed-current'))) {
      assert.ok(Date.now() < recovered, 'both relays read the feed again');
      await sleep(50);
    }
  });
});

async function outboxCount(relay: LocalRelayProcess): Promise<number> {
  return (await readdir(relay.outboxDir)).filter((name) => name.endsWith('.json')).length;
}
