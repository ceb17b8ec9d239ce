import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { openLocalStore } from '../../bin/relayctl/store-connection.ts';
import { createReputationHandler } from '../../lambda/reputation-handler.ts';
import { stageThresholdsFrom } from '../../lambda/reputation-policy.ts';
import { simulatedEvents } from '../../relay/local/ses-mailbox-simulator.ts';
import { jsonOf, relayctl, tempDataDir } from './relayctl-process.ts';

const SIMULATOR = 'simulator.amazonses.com';

/**
 * Puts users and SES events into the local store of `dataDir` the way the
 * reputation function would: `bad` bounces its way to a suspension, `good`
 * sends cleanly. Returns the SES message id of bad's last message.
 */
async function seed(dataDir: string): Promise<{ lastBounce: string; header: string }> {
  const connection = await openLocalStore(dataDir, { create: true });
  try {
    const { store, reputation } = connection;
    const handle = createReputationHandler({
      reputation: reputation!,
      users: store,
      thresholds: stageThresholdsFrom(JSON.stringify({ minimumSent: 4, bounceRate: { warn: 0.1, throttle: 0.2, suspend: 0.3 } })),
      log: { info: () => undefined, warn: () => undefined },
    });
    const bad = await store.createUser('bad@example.org', 'x');
    const good = await store.createUser('good@example.org', 'x');
    await store.createUser('quiet@example.org', 'x');
    let last = { lastBounce: '', header: '' };
    const send = async (userId: string, to: string) => {
      const messageId = `0100${Date.now().toString(16)}-${randomUUID()}-000000`;
      const header = `<${randomUUID()}@example.org>`;
      for (const event of simulatedEvents({ messageId, receivedAt: new Date().toISOString(), destinations: [to], tags: [{ name: 'relay-user', value: userId }], raw: Buffer.from(`Message-ID: ${header}\r\n\r\n`), region: 'EU-WEST-1' })) {
        await handle(event);
      }
      return { lastBounce: messageId, header };
    };
    for (let i = 0; i < 5; i++) await send(good.userId!, `success@${SIMULATOR}`);
    for (let i = 0; i < 3; i++) await send(bad.userId!, `success@${SIMULATOR}`);
    for (let i = 0; i < 2; i++) last = await send(bad.userId!, `bounce@${SIMULATOR}`);
    return last;
  } finally {
    await connection.close();
  }
}

describe('relayctl reputation, user show, message show', () => {
  test('user show prints the restriction with its reason and the counts and rates per window', async (t) => {
    const dataDir = await tempDataDir(t);
    await seed(dataDir);
    const shown = await relayctl(['user', 'show', 'bad@example.org'], { dataDir });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^restriction +suspended since \S+ by reputation: bounce rate 40 % over the last 24 h \(2 of 5 recipients; suspended at 30 %\)$/m);
    assert.match(shown.stdout, /^reputation +24 h: 5 sent, 3 delivered, 2 hard \/ 0 soft bounces, 0 complaints, 0 rejects, 0 delayed; bounce rate 40 %, complaint rate 0 %$/m);
    assert.match(shown.stdout, /^reputation +7 days: 5 sent/m);
    const json = jsonOf<{ reputation: { state: string; userId: string; restriction: { reason: string }; windows: Record<string, { sent: number; bounceRate: number }> } }>(
      await relayctl(['--json', 'user', 'show', 'bad@example.org'], { dataDir }),
    );
    assert.equal(json.reputation.state, 'suspended');
    assert.match(json.reputation.userId, /^[A-Za-z0-9_-]{20}$/);
    assert.deepEqual([json.reputation.windows['24 h']!.sent, json.reputation.windows['24 h']!.bounceRate], [5, 0.4]);
    const clean = await relayctl(['user', 'show', 'good@example.org'], { dataDir });
    assert.match(clean.stdout, /^restriction +\(none\)$/m);
  });

  test('reputation lists the restricted first, then by risk; --json for scripts', async (t) => {
    const dataDir = await tempDataDir(t);
    await seed(dataDir);
    const listed = await relayctl(['reputation'], { dataDir });
    assert.equal(listed.code, 0, listed.stderr);
    const rows = listed.stdout.trim().split('\n');
    assert.match(rows[0]!, /^login +state +sent 24 h +bounces +complaints +sent 7 days +bounces +complaints +reason$/);
    assert.match(rows[1]!, /^bad@example\.org +suspended +5 +40 % +0 % +5 +40 % +0 % +bounce rate 40 %/);
    assert.match(rows[2]!, /^good@example\.org +ok +5 +0 % +0 % +5/);
    assert.match(rows[3]!, /^quiet@example\.org +ok +0 +- +- +0 +- +-/);
    const json = jsonOf<Array<{ login: string; state: string; risk: number }>>(await relayctl(['--json', 'reputation'], { dataDir }));
    assert.deepEqual(json.map((row) => [row.login, row.state]), [['bad@example.org', 'suspended'], ['good@example.org', 'ok'], ['quiet@example.org', 'ok']]);
    assert.ok(json[0]!.risk > 1);
  });

  test('message show prints the trail by SES message id or Message-ID; an unknown id is exit 2', async (t) => {
    const dataDir = await tempDataDir(t);
    const { lastBounce, header } = await seed(dataDir);
    for (const id of [lastBounce, header, header.slice(1, -1)]) {
      const shown = await relayctl(['message', 'show', id], { dataDir });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`^SES message id +${lastBounce}$`, 'm'));
      assert.match(shown.stdout, /^user +bad@example\.org$/m);
      assert.match(shown.stdout, /^\S+Z +Send +bounce@simulator\.amazonses\.com$/m);
      assert.match(shown.stdout, /^\S+Z +Bounce +bounce@simulator\.amazonses\.com {2}\(Permanent\/General\)$/m);
    }
    const json = jsonOf<Array<{ sesMessageId: string; login: string; trail: Array<{ type: string }> }>>(await relayctl(['--json', 'message', 'show', lastBounce], { dataDir }));
    assert.deepEqual(json.map((m) => [m.sesMessageId, m.login, m.trail.map((e) => e.type)]), [[lastBounce, 'bad@example.org', ['Send', 'Bounce']]]);
    const unknown = await relayctl(['message', 'show', 'no-such-message'], { dataDir });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^relayctl: no message no-such-message/);
  });

  test('against AWS, the reputation table must be named; --help explains each command', async (t) => {
    const dataDir = await tempDataDir(t);
    const refused = await relayctl(['reputation', '--table', 'users', '--region', 'eu-west-1', '--dynamodb-endpoint', 'http://127.0.0.1:9'], { dataDir, env: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--reputation-table/);
    for (const [args, pattern] of [[['reputation', '--help'], /REPUTATION_THRESHOLDS/], [['message', 'show', '--help'], /Message-ID header/]] as const) {
      const help = await relayctl(args, { dataDir });
      assert.equal(help.code, 0);
      assert.match(help.stdout, pattern);
    }
  });
});
