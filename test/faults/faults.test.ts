import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestRelay } from '../support/relay-fixture.ts';
import { FaultClient } from './fault-client.ts';
import { FAULT_SCENARIOS, PASSWORD, USER } from './fault-scenarios.ts';

/**
 * Each fault the relay must survive (SMTP.md "DATA and delivery", issue 4 item 3):
 * what the client was told, what SES holds, what the log says, and nothing lost.
 * The same scenarios make the table of `npm run test:faults`.
 */
describe('faults: the client is told the truth and nothing is lost', () => {
  for (const scenario of FAULT_SCENARIOS) {
    test(scenario.fault, async () => {
      scenario.check(await scenario.play());
    });
  }
});

describe('what the log says when a client hangs up inside DATA', () => {
  test('one line, tied to the session, that the message was cut off: not an internal error', async () => {
    const relay = await startTestRelay();
    try {
      await relay.addUser(USER, PASSWORD);
      const client = new FaultClient(relay.submissionPort, { login: USER, password: PASSWORD });
      const session = await client.openAuthenticated();
      assert.equal(await session.envelope('m1'), undefined);
      assert.equal((await session.smtp.command('DATA')).code, 354);
      session.smtp.write('Subject: cut off\r\n\r\nhalf a mess');
      await sleep(100);
      session.smtp.close();
      await sleep(300);
      const log = relay.logLines();
      const id = log.find((line) => line.event === 'auth')?.session;
      assert.ok(id);
      // A client going away is the client's business, not a relay bug: no error-level "internal-error"
      // line (which today has no session field, so nobody can tell which message it was).
      assert.deepEqual(log.filter((line) => line.event === 'internal-error').map((line) => line.msg), []);
      const cutOff = log.filter((line) => line.session === id && /disconnect|closed|abort/i.test(`${String(line.reason)} ${String(line.msg)}`) && line.event !== 'disconnect');
      assert.equal(cutOff.length, 1, `a line for session ${String(id)} saying DATA was cut off`);
      assert.equal(cutOff[0]?.stage, 'DATA');
    } finally {
      await relay.close();
    }
  });
});

describe('credentials the policy contract cannot carry', () => {
  test('a password over 1 KiB or a login over 320 characters is 535 5.7.8, like any wrong password, not 454 (retry forever)', async () => {
    const relay = await startTestRelay({ env: { AUTH_PENALTY_BASE_MS: '0', AUTH_PENALTY_MAX_MS: '0' } });
    try {
      await relay.addUser(USER, PASSWORD);
      for (const [login, password] of [
        [USER, 'p'.repeat(1025)],
        [`${'a'.repeat(320)}@example.org`, PASSWORD],
      ] as const) {
        const client = new FaultClient(relay.submissionPort, { login, password });
        const session = await client.open();
        assert.match((await session.authenticate()).text, /^535 5\.7\.8 /, `login of ${login.length}, password of ${password.length}`);
        await session.quit();
      }
      assert.equal(relay.logLines().filter((line) => line.reason === 'auth-unavailable').length, 0, 'not logged as a policy outage');
    } finally {
      await relay.close();
    }
  });
});
