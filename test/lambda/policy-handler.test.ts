import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../lambda/password-hash.ts';
import type { AuthenticateDecision, AuthorizeSenderDecision, ConfirmSessionDecision, UserProfile } from '../../lambda/policy-contract.ts';
import { createPolicyHandler } from '../../lambda/policy-handler.ts';
import { MAX_ALIAS_DEPTH, UserStore } from '../../lambda/user-store.ts';
import { ensureLocalTables } from '../../relay/local/local-tables.ts';
import { localDynamoDbClient, startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../relay/local/embedded-dynamodb.ts';

const PASSWORD = 'correct horse battery staple';
const legacyFixtures = JSON.parse(await readFile(new URL('../fixtures/legacy-hashes.json', import.meta.url), 'utf8')) as {
  hashes: Array<{ scheme: string; password: string; hash: string }>;
};

/** The policy handler against dynalite through the real DynamoDB client. */
describe('policy handler over DynamoDB (dynalite)', () => {
  let dynamo: EmbeddedDynamoDb;
  let store: UserStore;
  let decide: ReturnType<typeof createPolicyHandler>;
  const now = new Date().toISOString();

  before(async () => {
    dynamo = await startEmbeddedDynamoDb(undefined);
    store = new UserStore(localDynamoDbClient(dynamo.endpoint), 'users');
    await ensureLocalTables(localDynamoDbClient(dynamo.endpoint), { users: 'users', counters: 'counters' });
    decide = createPolicyHandler(store);
    await store.createUser('john@example.org', await hashPassword(PASSWORD));
    await store.createUser('mary@example.org', await hashPassword(PASSWORD));
    await store.createUser('office@example.org', await hashPassword(PASSWORD));
    await store.updateUser('office@example.org', { settings: { allowedNetworks: ['192.0.2.0/24', '2001:db8::/32'], limits: { messagesPerMinute: 5 } } });
    await store.putSender({ grant: 'sales@example.org', owner: 'john@example.org', createdAt: now });
    await store.putSender({ grant: '@john.example', owner: 'john@example.org', createdAt: now });
    // a chain exactly MAX_ALIAS_DEPTH long resolves, one longer does not
    for (let i = 1; i < MAX_ALIAS_DEPTH; i++) {
      await store.putSender({ grant: `chain${i}@example.org`, aliasOf: i === 1 ? 'john@example.org' : `chain${i - 1}@example.org`, createdAt: now });
    }
    await store.putSender({ grant: `chain${MAX_ALIAS_DEPTH}@example.org`, aliasOf: `chain${MAX_ALIAS_DEPTH - 1}@example.org`, createdAt: now });
    await store.putSender({ grant: `chain${MAX_ALIAS_DEPTH + 1}@example.org`, aliasOf: `chain${MAX_ALIAS_DEPTH}@example.org`, createdAt: now });
  });
  after(() => dynamo.close());

  const auth = (login: string, password: string, clientAddress = '198.51.100.7') =>
    decide({ action: 'authenticate', login, password, clientAddress }) as Promise<AuthenticateDecision>;
  const mayUse = async (login: string, sender: string) =>
    ((await decide({ action: 'authorizeSender', login, sender })) as AuthorizeSenderDecision).verdict;

  const confirm = (login: string, passwordSetAt: string, clientAddress = '198.51.100.7') =>
    decide({ action: 'confirmSession', login, clientAddress, passwordSetAt }) as Promise<ConfirmSessionDecision>;
  /** A permit's profile without the password stamp, which is a time. */
  const profile = (decision: AuthenticateDecision | ConfirmSessionDecision): Omit<UserProfile, 'passwordSetAt' | 'userId'> | string => {
    if (decision.verdict !== 'permit') return decision.reason;
    const { passwordSetAt, userId, ...rest } = decision.user;
    assert.match(passwordSetAt ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.match(userId ?? '', /^[A-Za-z0-9_-]{20}$/, 'every profile names its user for the relay-user tag');
    return rest;
  };
  const stampOf = async (login: string) => ((await auth(login, PASSWORD)) as { user: UserProfile }).user.passwordSetAt!;

  test('the right password permits, with the canonical login and the user settings', async () => {
    assert.deepEqual(profile(await auth('John@Example.ORG', PASSWORD)), { login: 'john@example.org' });
    assert.deepEqual(profile(await auth('office@example.org', PASSWORD, '192.0.2.10')), { login: 'office@example.org', limits: { messagesPerMinute: 5 } });
  });

  test('a suspended user with the right password is told why; with a wrong one, nothing', async () => {
    await store.createUser('bouncy@example.org', await hashPassword(PASSWORD));
    const reason = 'bounce rate 7.1 % over the last 24 h (threshold 4 %)';
    await store.restrictUser('bouncy@example.org', { state: 'suspended', reason, since: now, by: 'reputation' });
    assert.deepEqual(await auth('bouncy@example.org', PASSWORD), { verdict: 'reject', reason: 'suspended', text: reason });
    assert.deepEqual(await auth('bouncy@example.org', 'wrong'), { verdict: 'reject', reason: 'invalid-credentials' });
    await store.reinstateUser('bouncy@example.org', 'operator-jane', 'list cleaned');
    assert.equal((await auth('bouncy@example.org', PASSWORD)).verdict, 'permit');
    const history = await store.restrictionHistory('bouncy@example.org');
    assert.deepEqual(history.map(({ action, state, by, reason: why }) => [action, state, by, why]), [
      ['restricted', 'suspended', 'reputation', reason],
      ['reinstated', 'suspended', 'operator-jane', 'list cleaned'],
    ]);
    await assert.rejects(store.reinstateUser('bouncy@example.org', 'operator-jane', 'again'), /not restricted/);
    await assert.rejects(store.restrictUser('nobody@example.org', { state: 'warned', reason: 'x', since: now, by: 'reputation' }), /no user/);
  });

  test('a throttled user gets the cut in the profile; a warned one nothing', async () => {
    await store.createUser('throttled@example.org', await hashPassword(PASSWORD));
    await store.restrictUser('throttled@example.org', { state: 'warned', reason: 'bounce rate 3 %', since: now, by: 'reputation' });
    assert.deepEqual(profile(await auth('throttled@example.org', PASSWORD)), { login: 'throttled@example.org' });
    await store.restrictUser('throttled@example.org', { state: 'throttled', reason: 'bounce rate 5 %', messagesPerMinute: 2, since: now, by: 'reputation' });
    assert.deepEqual(profile(await auth('throttled@example.org', PASSWORD)), { login: 'throttled@example.org', throttle: { messagesPerMinute: 2 } });
  });

  test('confirmSession: an open session goes on with the fresh profile until its user is removed, disabled, given a new password or suspended', async () => {
    await store.createUser('open@example.org', await hashPassword(PASSWORD));
    const stamp = await stampOf('open@example.org');
    assert.deepEqual(profile(await confirm('open@example.org', stamp)), { login: 'open@example.org' });
    await store.updateUser('open@example.org', { settings: { limits: { messagesPerMinute: 7 } } });
    assert.deepEqual(profile(await confirm('open@example.org', stamp)), { login: 'open@example.org', limits: { messagesPerMinute: 7 } });
    await store.updateUser('open@example.org', { settings: { allowedNetworks: ['192.0.2.0/24'] } });
    assert.equal(profile(await confirm('open@example.org', stamp)), 'network');
    await store.updateUser('open@example.org', { settings: {} });
    await store.restrictUser('open@example.org', { state: 'suspended', reason: 'complaint rate 0.2 %', since: now, by: 'reputation' });
    assert.deepEqual(await confirm('open@example.org', stamp), { verdict: 'reject', reason: 'suspended', text: 'complaint rate 0.2 %' });
    await store.reinstateUser('open@example.org', 'jane', 'fixed');
    await store.updateUser('open@example.org', { disabled: true });
    assert.equal(profile(await confirm('open@example.org', stamp)), 'disabled');
    await store.updateUser('open@example.org', { disabled: false });
    assert.deepEqual(profile(await confirm('open@example.org', stamp)), { login: 'open@example.org' });
    await store.updateUser('open@example.org', { passwordHash: await hashPassword('a new passphrase') });
    assert.equal(profile(await confirm('open@example.org', stamp)), 'password-changed');
    await store.removeUser('open@example.org');
    assert.equal(profile(await confirm('open@example.org', stamp)), 'removed');
  });

  test("the policy's rehash of a legacy hash keeps the password stamp: sessions stay open", async () => {
    const legacy = legacyFixtures.hashes.find((h) => h.scheme === 'SHA512-CRYPT')!;
    await store.createUser('rehashed@example.org', legacy.hash);
    const first = (await auth('rehashed@example.org', legacy.password)) as { user: UserProfile };
    assert.match((await store.getUser('rehashed@example.org'))!.passwordHash, /^\$scrypt\$/);
    assert.equal((await confirm('rehashed@example.org', first.user.passwordSetAt!)).verdict, 'permit');
  });

  test('wrong password, unknown user, disabled user and an unparseable login all get the same refusal', async () => {
    await store.createUser('gone@example.org', await hashPassword(PASSWORD));
    await store.updateUser('gone@example.org', { disabled: true });
    for (const [login, password] of [['john@example.org', 'nope'], ['nobody@example.org', PASSWORD], ['gone@example.org', PASSWORD], ['not an address', PASSWORD]] as const) {
      assert.deepEqual(await auth(login, password), { verdict: 'reject', reason: 'invalid-credentials' }, login);
    }
  });

  test('a user limited to some networks is refused elsewhere, with the same public answer', async () => {
    assert.deepEqual(await auth('office@example.org', PASSWORD, '203.0.113.9'), { verdict: 'reject', reason: 'invalid-credentials', detail: 'network' });
    assert.equal((await auth('office@example.org', PASSWORD, '2001:db8::25')).verdict, 'permit');
  });

  for (const legacy of legacyFixtures.hashes.filter((h) => ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT'].includes(h.scheme)).slice(0, 3)) {
    test(`a ${legacy.scheme} hash from Dovecot logs in and is rehashed to scrypt on that login`, async () => {
      const login = `legacy-${legacy.scheme.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}@example.org`;
      await store.createUser(login, legacy.hash);
      assert.equal((await auth(login, `${legacy.password}x`)).verdict, 'reject');
      assert.equal((await store.getUser(login))?.passwordHash, legacy.hash, 'a failed login changes nothing');
      assert.equal((await auth(login, legacy.password)).verdict, 'permit');
      const rehashed = (await store.getUser(login))?.passwordHash ?? '';
      assert.match(rehashed, /^\$scrypt\$/);
      assert.equal((await auth(login, legacy.password)).verdict, 'permit', 'the new hash verifies the same password');
    });
  }

  test('the rehash never overwrites a password changed meanwhile', async () => {
    const legacy = legacyFixtures.hashes[0]!;
    await store.createUser('race@example.org', legacy.hash);
    await assert.rejects(store.replacePasswordHash('race@example.org', 'some other hash', await hashPassword('x')), /changed meanwhile/);
    assert.equal((await store.getUser('race@example.org'))?.passwordHash, legacy.hash);
  });

  test('sender ownership: login, grant, domain, alias chains up to the depth limit', async () => {
    assert.equal(await mayUse('john@example.org', 'john@example.org'), 'permit');
    assert.equal(await mayUse('john@example.org', 'SALES@example.org'), 'permit');
    assert.equal(await mayUse('john@example.org', 'anyone@JOHN.example'), 'permit');
    assert.equal(await mayUse('john@example.org', `chain${MAX_ALIAS_DEPTH - 1}@example.org`), 'permit');
    assert.equal(await mayUse('john@example.org', `chain${MAX_ALIAS_DEPTH + 1}@example.org`), 'reject');
    assert.equal(await mayUse('mary@example.org', 'sales@example.org'), 'reject');
    assert.equal(await mayUse('mary@example.org', 'john@example.org'), 'reject');
    assert.equal(await mayUse('john@example.org', 'x@sub.john.example'), 'reject');
    assert.equal(await mayUse('john@example.org', 'jöhn@example.org'), 'reject');
  });

  test('an address owned explicitly belongs to its owner only, whoever holds its domain', async () => {
    await store.createUser('bob@corp.example', await hashPassword(PASSWORD));
    await store.createUser('ceo@corp.example', await hashPassword(PASSWORD));
    await store.putSender({ grant: '@corp.example', owner: 'bob@corp.example', createdAt: now });
    await store.putSender({ grant: 'press@corp.example', owner: 'mary@example.org', createdAt: now });
    await store.putSender({ grant: 'info@corp.example', aliasOf: 'press@corp.example', createdAt: now });
    await store.putSender({ grant: 'loop1@corp.example', aliasOf: 'loop2@corp.example', createdAt: now });
    await store.putSender({ grant: 'loop2@corp.example', aliasOf: 'loop1@corp.example', createdAt: now });
    const decision = (login: string, sender: string) => decide({ action: 'authorizeSender', login, sender });

    assert.deepEqual(await decision('bob@corp.example', 'anyone@corp.example'), { verdict: 'permit', via: 'domain' });
    assert.equal(await mayUse('bob@corp.example', 'press@corp.example'), 'reject', 'granted to mary');
    assert.equal(await mayUse('bob@corp.example', 'info@corp.example'), 'reject', 'an alias leading to mary');
    assert.equal(await mayUse('bob@corp.example', 'CEO@corp.example'), 'reject', "ceo's own login");
    assert.equal(await mayUse('bob@corp.example', 'loop1@corp.example'), 'reject', 'a broken alias chain falls to nobody, not to the domain');
    assert.deepEqual(await decision('mary@example.org', 'press@corp.example'), { verdict: 'permit', via: 'address' });
    assert.deepEqual(await decision('mary@example.org', 'info@corp.example'), { verdict: 'permit', via: 'alias' });
    assert.deepEqual(await decision('ceo@corp.example', 'ceo@corp.example'), { verdict: 'permit', via: 'login' });
    await store.updateUser('ceo@corp.example', { disabled: true });
    assert.equal(await mayUse('bob@corp.example', 'ceo@corp.example'), 'reject', 'a disabled login still belongs to its user');
  });

  test('a grant of an address can exist once only', async () => {
    await assert.rejects(store.putSender({ grant: 'sales@example.org', owner: 'mary@example.org', createdAt: now }), /already granted/);
  });

  test('a malformed request throws naming fields, never quoting values', async () => {
    const secret = 'a-secret-that-must-not-leak';
    await assert.rejects(
      decide({ action: 'authenticate', login: 'john@example.org', password: secret.repeat(100), clientAddress: '1.2.3.4' }),
      (error: Error) => error.message.includes('password') && !error.message.includes(secret),
    );
    await assert.rejects(decide({ action: 'deleteEverything' }), /invalid policy request/);
    await assert.rejects(decide(null), /invalid policy request/);
  });
});
