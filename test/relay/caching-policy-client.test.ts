import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import {
  PolicyUnavailableError,
  type AuthenticateRequest,
  type AuthorizeSenderRequest,
  type PolicyClient,
  type PolicyDecision,
  type PolicyRequest,
} from '../../lambda/policy-contract.ts';
import { canonicalGrant } from '../../lambda/mail-address.ts';
import { hashPassword } from '../../lambda/password-hash.ts';
import { CachingPolicyClient } from '../../relay/caching-policy-client.ts';
import type { LoginChange, LoginChanges } from '../../relay/change-feed.ts';
import { startLocalStack } from '../../relay/local/local-stack.ts';
import { createRelayLog } from '../../relay/relay-log.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

const auth = (password = PASSWORD, clientAddress = '192.0.2.1', login = USER): AuthenticateRequest => ({
  action: 'authenticate',
  login,
  password,
  clientAddress,
});
const sender = (address = USER, login = USER): AuthorizeSenderRequest => ({ action: 'authorizeSender', login, sender: address });

/** A policy that knows one user and one password, and counts what it is asked. */
class ScriptedPolicy implements PolicyClient {
  calls: PolicyRequest[] = [];
  password = PASSWORD;
  failNext = 0;
  async decide<R extends PolicyRequest>(request: R): Promise<PolicyDecision<R>> {
    this.calls.push(request);
    await sleep(1);
    if (this.failNext > 0) {
      this.failNext--;
      throw new PolicyUnavailableError(new Error('store timeout'));
    }
    const decision =
      request.action === 'authenticate'
        ? request.login === USER && request.password === this.password
          ? { verdict: 'permit', user: { login: USER } }
          : { verdict: 'reject', reason: 'invalid-credentials' }
        : request.action === 'confirmSession'
          ? { verdict: 'permit', user: { login: USER } }
          : request.sender === request.login
            ? { verdict: 'permit', via: 'login' }
            : { verdict: 'reject', reason: 'not-owned' };
    return decision as PolicyDecision<R>;
  }
}

/** The change feed as the cache sees it, driven by the test. */
class ScriptedChanges implements LoginChanges {
  current = true;
  private listeners: Array<(change: LoginChange) => void> = [];
  isCurrent(): boolean {
    return this.current;
  }
  subscribe(listener: (change: LoginChange) => void): void {
    this.listeners.push(listener);
  }
  announce(change: LoginChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  const policy = new ScriptedPolicy();
  const changes = new ScriptedChanges();
  let clock = 1_000_000;
  const cache = new CachingPolicyClient(policy, {
    ttlMs: options.ttlMs ?? 60_000,
    ...(options.maxEntries ? { maxEntries: options.maxEntries } : {}),
    now: () => clock,
    changes,
  });
  return { policy, cache, changes, advance: (ms: number) => (clock += ms) };
}

describe('CachingPolicyClient', () => {
  test('a permitted AUTH and a permitted sender are answered from the cache the second time', async () => {
    const { policy, cache } = setup();
    assert.equal((await cache.decide(auth())).verdict, 'permit');
    assert.deepEqual(await cache.decide(auth()), { verdict: 'permit', user: { login: USER } });
    assert.equal((await cache.decide(sender())).verdict, 'permit');
    assert.equal((await cache.decide(sender())).verdict, 'permit');
    assert.deepEqual(policy.calls.map((call) => call.action), ['authenticate', 'authorizeSender']);
    assert.deepEqual(cache.stats(), { hits: 2, misses: 2, entries: 2 });
  });

  test('a wrong password is never answered from the cache of the right one', async () => {
    const { policy, cache } = setup();
    await cache.decide(auth());
    assert.equal((await cache.decide(auth('wrong password'))).verdict, 'reject');
    assert.equal((await cache.decide(auth(`${PASSWORD} `))).verdict, 'reject');
    assert.equal(policy.calls.length, 3);
  });

  test('the same credentials from another client address ask the policy again', async () => {
    const { policy, cache } = setup();
    await cache.decide(auth(PASSWORD, '192.0.2.1'));
    await cache.decide(auth(PASSWORD, '198.51.100.7'));
    assert.equal(policy.calls.length, 2);
  });

  test('refusals are not cached', async () => {
    const { policy, cache } = setup();
    assert.equal((await cache.decide(auth('wrong password'))).verdict, 'reject');
    assert.equal((await cache.decide(auth('wrong password'))).verdict, 'reject');
    assert.equal((await cache.decide(sender('someone@else.example'))).verdict, 'reject');
    assert.equal((await cache.decide(sender('someone@else.example'))).verdict, 'reject');
    assert.equal(policy.calls.length, 4);
  });

  test('PolicyUnavailableError is passed on and not cached', async () => {
    const { policy, cache } = setup();
    policy.failNext = 1;
    await assert.rejects(cache.decide(auth()), PolicyUnavailableError);
    assert.equal((await cache.decide(auth())).verdict, 'permit');
    assert.equal(policy.calls.length, 2);
    assert.equal(cache.stats().entries, 1);
  });

  test('a permit expires after the TTL, counted from the decision and not from its last use', async () => {
    const { policy, cache, advance } = setup({ ttlMs: 60_000 });
    await cache.decide(auth());
    advance(59_000);
    await cache.decide(auth());
    assert.equal(policy.calls.length, 1, 'still cached just before the TTL');
    advance(1_000);
    await cache.decide(auth());
    assert.equal(policy.calls.length, 2, 'asked again once the TTL from the first decision is over');
  });

  test('a changed password stops the old one within the TTL', async () => {
    const { policy, cache, advance } = setup({ ttlMs: 60_000 });
    await cache.decide(auth());
    policy.password = 'a new passphrase';
    advance(60_000);
    assert.equal((await cache.decide(auth())).verdict, 'reject');
    assert.equal((await cache.decide(auth('a new passphrase'))).verdict, 'permit');
  });

  test('TTL 0 turns the cache off', async () => {
    const { policy, cache } = setup({ ttlMs: 0 });
    await cache.decide(auth());
    await cache.decide(auth());
    assert.equal(policy.calls.length, 2);
  });

  test('the cache is bounded and drops the least recently used permit first', async () => {
    const { policy, cache } = setup({ maxEntries: 2 });
    await cache.decide(sender(USER));
    await cache.decide(sender('a@example.org', 'a@example.org'));
    await cache.decide(sender(USER)); // now the most recently used
    await cache.decide(sender('b@example.org', 'b@example.org')); // evicts a@
    assert.equal(cache.stats().entries, 2);
    policy.calls = [];
    await cache.decide(sender(USER));
    assert.equal(policy.calls.length, 0);
    await cache.decide(sender('a@example.org', 'a@example.org'));
    assert.equal(policy.calls.length, 1);
  });

  test('one login cannot flush the cache: past its own share it evicts only its own permits (issue #10, point 8)', async () => {
    // A user with a domain grant claims a new address in every message.
    const domainGrant: PolicyClient = {
      decide: async <R extends PolicyRequest>(request: R) =>
        ({ verdict: request.action === 'authorizeSender' && request.sender.endsWith('@john.example') ? 'permit' : 'reject', via: 'domain' }) as unknown as PolicyDecision<R>,
    };
    const asked: PolicyRequest[] = [];
    const cache = new CachingPolicyClient({ decide: (request) => (asked.push(request), domainGrant.decide(request)) }, { ttlMs: 60_000, maxEntries: 50, maxEntriesPerLogin: 10 });
    const others = Array.from({ length: 20 }, (_, i) => sender(`x@john.example`, `user${i}@example.org`));
    for (const request of others) await cache.decide(request);
    for (let i = 0; i < 5_000; i++) await cache.decide(sender(`n${i}@john.example`, USER));
    assert.equal(cache.stats().entries, 30, "twenty others' permits and ten of the flooder's");
    asked.length = 0;
    for (const request of others) await cache.decide(request);
    assert.deepEqual(asked, [], "every other user's permit is still cached");
    await cache.decide(sender('n4999@john.example', USER));
    await cache.decide(sender('n0@john.example', USER));
    assert.equal(asked.length, 1, "the flooder's oldest permit went, its newest stayed");
  });

  test('identical questions asked at once share one policy call', async () => {
    const { policy, cache } = setup();
    const decisions = await Promise.all(Array.from({ length: 8 }, () => cache.decide(auth())));
    assert.ok(decisions.every((decision) => decision.verdict === 'permit'));
    assert.equal(policy.calls.length, 1);
  });

  test("a change of a login drops that login's permits (AUTH by its canonical login) and no one else's", async () => {
    const { policy, cache, changes } = setup();
    await cache.decide(auth(PASSWORD, '192.0.2.1', 'John@Example.org'));
    await cache.decide(sender());
    await cache.decide(sender('a@example.org', 'a@example.org'));
    changes.announce(new Set([USER]));
    policy.calls = [];
    await cache.decide(auth(PASSWORD, '192.0.2.1', 'John@Example.org'));
    await cache.decide(sender());
    await cache.decide(sender('a@example.org', 'a@example.org'));
    assert.deepEqual(policy.calls.map((call) => call.action), ['authenticate', 'authorizeSender']);
    changes.announce('all');
    await cache.decide(sender('a@example.org', 'a@example.org'));
    assert.equal(policy.calls.length, 3, '"all" drops everything');
  });

  test('an answer asked before a change and received after it is used once, not remembered', async () => {
    const { policy, cache, changes } = setup();
    const asked = cache.decide(sender());
    changes.announce(new Set(['someone@example.org']));
    const askedAfter = cache.decide(sender());
    assert.deepEqual([(await asked).verdict, (await askedAfter).verdict], ['permit', 'permit']);
    assert.equal(policy.calls.length, 2, 'the question asked after the change did not join the one in flight');
    await cache.decide(sender());
    assert.equal(policy.calls.length, 2, 'the answer asked after the change is the one remembered');
  });

  test('while the feed is not current every question goes to the policy, and nothing is remembered', async () => {
    const { policy, cache, changes } = setup();
    await cache.decide(auth());
    changes.current = false;
    await cache.decide(auth());
    await cache.decide(auth());
    assert.equal(policy.calls.length, 3);
    changes.current = true;
    await cache.decide(auth());
    assert.equal(policy.calls.length, 3, 'the permit from before the outage serves again (the feed applied what changed meanwhile)');
  });

  test('confirmSession is never answered from the cache', async () => {
    const { policy, cache } = setup();
    for (let i = 0; i < 2; i++) await cache.decide({ action: 'confirmSession', login: USER, clientAddress: '192.0.2.1', passwordSetAt: 'x' });
    assert.equal(policy.calls.length, 2);
  });

  test('the cache holds no password, only a keyed hash of it', async () => {
    const { cache } = setup();
    await cache.decide(auth());
    const held = JSON.stringify([...(cache as unknown as { entries: Map<string, unknown> }).entries]);
    assert.ok(!held.includes(PASSWORD));
    assert.ok(!held.includes(Buffer.from(PASSWORD).toString('base64')));
  });
});

describe('the permit cache in the running relay', () => {
  test('a second AUTH within the TTL makes no policy call; after a password change and the TTL the old password fails', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'relay-cache-test-'));
    const asked: PolicyRequest[] = [];
    const counting = (inner: PolicyClient): PolicyClient => ({
      decide: (request) => {
        asked.push(request);
        return inner.decide(request);
      },
    });
    const stack = await startLocalStack({
      dataDir,
      dynamoInMemory: true,
      sesInMemory: true,
      wrapPolicy: counting,
      log: createRelayLog('silent', new Writable({ write: (_chunk, _encoding, callback) => callback() })),
      env: { RELAY_LISTEN: '127.0.0.1', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', POLICY_CACHE_SECONDS: '1' },
    });
    try {
      await stack.store.createUser(USER, await hashPassword(PASSWORD));
      // A granted sender, not the login itself: the relay asks the policy about it.
      const from = 'noreply@example.org';
      await stack.store.putSender({ grant: canonicalGrant(from) ?? from, owner: USER, createdAt: new Date().toISOString() });
      const ca = await readFile(stack.certPath);
      const send = (pass: string) =>
        nodemailer
          .createTransport({
            host: '127.0.0.1',
            port: stack.relay.submissionPort,
            requireTLS: true,
            tls: { ca, servername: 'localhost' },
            auth: { user: USER, pass },
          })
          .sendMail({ envelope: { from, to: ['someone@example.net'] }, raw: `From: ${from}\r\nTo: someone@example.net\r\nSubject: hi\r\n\r\nhello\r\n` });

      await send(PASSWORD);
      assert.deepEqual(asked.map((request) => request.action), ['authenticate', 'authorizeSender']);
      await send(PASSWORD);
      assert.equal(asked.length, 2, 'the second message, on a fresh connection with AUTH, asked the policy nothing');

      await stack.store.updateUser(USER, { passwordHash: await hashPassword('a new passphrase') });
      await sleep(1_100);
      await assert.rejects(send(PASSWORD), (error: { responseCode?: number }) => error.responseCode === 535);
      await send('a new passphrase');
      assert.equal(stack.ses.stats().accepted, 3);
    } finally {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
