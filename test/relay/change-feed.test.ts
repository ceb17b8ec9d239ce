import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { UserStore } from '../../lambda/user-store.ts';
import { ChangeFeed, type LoginChange } from '../../relay/change-feed.ts';
import { localDynamoDbClient, startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';
import { ensureLocalTables } from '../../relay/local/local-tables.ts';
import { createRelayLog } from '../../relay/relay-log.ts';

const BOUND_MS = 5_000;

/**
 * The change feed against dynalite through the real store module, stepped by
 * hand (`poll()`) with a clock the test moves: what each read applies, how a
 * gap is waited for and then closed, and when the feed stops being current.
 */
describe('ChangeFeed', () => {
  let dynamo: EmbeddedDynamoDb;
  let table = 0;

  before(async () => {
    dynamo = await startEmbeddedDynamoDb(undefined);
  });
  after(() => dynamo.close());

  async function setup() {
    const names = { users: `users-${++table}`, counters: `counters-${table}` };
    const client = localDynamoDbClient(dynamo.endpoint);
    await ensureLocalTables(client, names);
    const store = new UserStore(client, names.users);
    let clock = 1_000_000;
    const logged: Array<Record<string, unknown>> = [];
    const log = createRelayLog('debug', new Writable({ write: (chunk: Buffer, _e, done) => (logged.push(JSON.parse(chunk.toString())), done()) }));
    const feed = new ChangeFeed(store, { pollMs: 1_000, boundMs: BOUND_MS, gapGraceMs: 2_000, log, now: () => clock });
    const seen: LoginChange[] = [];
    feed.subscribe((change) => seen.push(change));
    /** Takes an epoch without writing its change item: a writer that died (or is slow) in between. */
    const takeEpoch = () =>
      client.send(new UpdateItemCommand({ TableName: names.users, Key: { pk: { S: 'CHANGE' }, sk: { S: 'HEAD' } }, UpdateExpression: 'ADD epoch :one', ExpressionAttributeValues: { ':one': { N: '1' } } }));
    const changed = () => seen.splice(0).map((change) => (change === 'all' ? 'all' : [...change].sort().join(',')));
    return { store, feed, changed, takeEpoch, logged, advance: (ms: number) => (clock += ms) };
  }

  test('is not current before its first read; applies each change once, from the head it started at', async () => {
    const { store, feed, changed } = await setup();
    await store.announceChange('before@example.org', 'disabled');
    assert.equal(feed.isCurrent(), false, 'nothing read yet: fail closed');
    await feed.poll();
    assert.equal(feed.isCurrent(), true);
    assert.deepEqual(changed(), [], 'what came before the start concerns nothing this task remembers');
    await store.announceChange('john@example.org', 'password');
    await store.announceChange('jane@example.org', 'senders');
    await feed.poll();
    assert.deepEqual(changed(), ['jane@example.org,john@example.org']);
    await feed.poll();
    assert.deepEqual(changed(), [], 'nothing new, nothing told');
  });

  test('applies what is past a gap at once, waits for the gap, and closes it by forgetting everything', async () => {
    const { store, feed, changed, takeEpoch, advance, logged } = await setup();
    await feed.poll();
    await takeEpoch();
    await store.announceChange('late@example.org', 'disabled');
    await feed.poll();
    assert.deepEqual(changed(), ['late@example.org'], 'the change past the gap is applied at once');
    advance(1_000);
    await feed.poll();
    assert.deepEqual(changed(), [], 'not again, and the gap is still waited for');
    advance(1_500);
    await feed.poll();
    assert.deepEqual(changed(), ['all'], 'an epoch taken but never written: everything is forgotten');
    assert.ok(logged.some((line) => line.event === 'change-feed-gap'));
    await store.announceChange('next@example.org', 'removed');
    await feed.poll();
    assert.deepEqual(changed(), ['next@example.org'], 'and the feed goes on after the gap');
  });

  test('a gap that fills in time is applied like any change', async () => {
    const { store, feed, changed } = await setup();
    await feed.poll();
    await store.announceChange('one@example.org', 'disabled');
    await store.announceChange('two@example.org', 'disabled');
    await feed.poll();
    assert.deepEqual(changed(), ['one@example.org,two@example.org']);
  });

  test('fails closed: unread for the bound, it is not current, logs an error once, and is current again after a read', async () => {
    const { store, feed, changed, advance, logged } = await setup();
    await feed.poll();
    dynamo.faults.arm('internal@Query');
    await store.announceChange('during@example.org', 'disabled').catch(() => undefined);
    for (let waited = 0; waited < BOUND_MS; waited += 1_000) {
      advance(1_000);
      await feed.poll();
    }
    assert.equal(feed.isCurrent(), false);
    advance(1_000);
    await feed.poll();
    assert.equal(logged.filter((line) => line.event === 'change-feed-stale').length, 1, 'one error line for the outage');
    assert.equal(logged.filter((line) => line.event === 'change-feed-error').length, 1, 'one warning when it starts');
    dynamo.faults.clear();
    await feed.poll();
    assert.equal(feed.isCurrent(), true);
    assert.deepEqual(changed(), ['during@example.org'], 'the change made during the outage is applied when the feed is read again');
    assert.ok(logged.some((line) => line.event === 'change-feed-current'));
  });
});
