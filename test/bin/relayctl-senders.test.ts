import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashPassword } from '../../lambda/password-hash.ts';
import { jsonOf, relayctl, tempDataDir, withLocalStore, type CliRun } from './relayctl-process.ts';

function assertRefused(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^relayctl: [^\n]+\n$/, 'one line on stderr');
  assert.match(run.stderr, pattern);
}

async function seededDataDir(t: Parameters<typeof tempDataDir>[0]): Promise<string> {
  const dataDir = await tempDataDir(t);
  await withLocalStore(dataDir, async (store) => {
    await store.createUser('john@example.org', await hashPassword('fake password one'));
    await store.createUser('jane@example.org', await hashPassword('fake password two'));
  });
  return dataDir;
}

describe('relayctl sender', { concurrency: true }, () => {
  test('grant, list and revoke an address and a domain, in canonical form', async (t) => {
    const dataDir = await seededDataDir(t);
    const granted = await relayctl(['sender', 'grant', 'John@Example.org', 'Sales@EXAMPLE.org'], { dataDir });
    assert.equal(granted.code, 0, granted.stderr);
    assert.equal(granted.stdout, 'granted sales@example.org to john@example.org\n');
    assert.deepEqual(jsonOf(await relayctl(['--json', 'sender', 'grant', 'john@example.org', '@Example.NET'], { dataDir })), {
      user: 'john@example.org',
      grant: '@example.net',
      kind: 'domain',
    });
    await withLocalStore(dataDir, async (store) => {
      assert.equal((await store.getSender('sales@example.org')) && 'owner' in (await store.getSender('sales@example.org'))!, true);
      // An alias of the granted address: only an import writes these; list and revoke must follow them.
      await store.putSender({ grant: 'info@example.org', aliasOf: 'sales@example.org', createdAt: new Date().toISOString() });
    });

    const listed = await relayctl(['sender', 'list', 'john@example.org'], { dataDir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, '@example.net  (domain)\nsales@example.org  (address)\ninfo@example.org  (alias of sales@example.org)\n');
    const listJson = jsonOf<{ user: string; senders: Array<Record<string, string>> }>(await relayctl(['--json', 'sender', 'list', 'john@example.org'], { dataDir }));
    assert.equal(listJson.user, 'john@example.org');
    assert.deepEqual(listJson.senders.map(({ createdAt, ...rest }) => (assert.ok(createdAt), rest)), [
      { grant: '@example.net', kind: 'domain' },
      { grant: 'sales@example.org', kind: 'address' },
      { grant: 'info@example.org', kind: 'alias', aliasOf: 'sales@example.org' },
    ]);
    const janeList = await relayctl(['sender', 'list', 'jane@example.org'], { dataDir });
    assert.equal(janeList.stdout, '', 'nothing on stdout for a user with no grants');
    assert.match(janeList.stderr, /jane@example\.org sends as its login only/);

    const revoked = await relayctl(['sender', 'revoke', 'john@example.org', 'sales@example.org'], { dataDir });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, 'revoked sales@example.org from john@example.org\nrevoked info@example.org from john@example.org\n', 'the alias through it goes too');
    assert.deepEqual(jsonOf(await relayctl(['--json', 'sender', 'revoke', 'john@example.org', '@example.net'], { dataDir })), {
      user: 'john@example.org',
      revoked: ['@example.net'],
    });
    await withLocalStore(dataDir, async (store) => {
      assert.equal(await store.getSender('sales@example.org'), undefined);
      assert.equal(await store.getSender('info@example.org'), undefined);
      assert.equal(await store.getSender('@example.net'), undefined);
    });
  });

  test('grant refuses an invalid address, an unknown user, a duplicate, and an address another user owns', async (t) => {
    const dataDir = await seededDataDir(t);
    await withLocalStore(dataDir, (store) => store.putSender({ grant: 'shared@example.org', owner: 'jane@example.org', createdAt: new Date().toISOString() }));
    const grant = (user: string, address: string) => relayctl(['sender', 'grant', user, address], { dataDir });
    assertRefused(await grant('john@example.org', 'not an address'), 1, /invalid sender "not an address": give an address \(sales@example\.org\) or a domain \(@example\.org\)/);
    assertRefused(await grant('john@example.org', '@localhost'), 1, /invalid sender "@localhost"/);
    assertRefused(await grant('john', 'sales@example.org'), 1, /invalid address "john"/);
    assertRefused(await grant('nobody@example.org', 'sales@example.org'), 2, /no user nobody@example\.org/);
    assertRefused(await grant('john@example.org', 'JOHN@example.org'), 3, /john@example\.org is the user's own login/);
    assertRefused(await grant('john@example.org', 'Jane@Example.org'), 3, /jane@example\.org is the login of a user; an address belongs to one user only/);
    assertRefused(await grant('john@example.org', 'shared@example.org'), 3, /shared@example\.org is granted to jane@example\.org; an address belongs to one user only/);
    assertRefused(await grant('jane@example.org', 'shared@example.org'), 3, /shared@example\.org is granted to jane@example\.org already/);
    await withLocalStore(dataDir, async (store) => {
      assert.deepEqual((await store.sendersOf('john@example.org')).map((record) => record.grant), [], 'nothing was granted to john');
      await store.putSender({ grant: '@example.net', owner: 'jane@example.org', createdAt: new Date().toISOString() });
    });
    // An address inside a domain granted to someone else is allowed, and taken from the domain's holder.
    const inDomain = await grant('john@example.org', 'team@example.net');
    assert.equal(inDomain.code, 0, inDomain.stderr);
    assert.equal(inDomain.stdout, 'granted team@example.net to john@example.org\n');
    assert.equal(inDomain.stderr, 'note: @example.net is granted to jane@example.org, but from now on only john@example.org may send as team@example.net\n');
    // A login made inside the domain takes its address from the holder the same way.
    const login = await relayctl(['user', 'add', 'cfo@example.net', '--password-stdin'], { dataDir, stdin: 'a long enough fake password\n' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stderr, /^note: @example\.net is granted to jane@example\.org, but from now on only cfo@example\.net may send as cfo@example\.net$/m);
    // Running relays hear that jane lost both, so her open sessions and remembered permits are checked again.
    const changes = await withLocalStore(dataDir, async (store) => (await store.changesAfter(0)).changes);
    assert.deepEqual(changes.filter((change) => change.login === 'jane@example.org').map((change) => change.kind), ['senders', 'senders']);
    const domain = await grant('john@example.org', '@example.com');
    assert.equal(domain.code, 0, domain.stderr);
    assert.equal(domain.stderr, 'note: addresses of example.com that are logins, or granted or aliased to others, stay theirs (relayctl who <address> tells)\n');
  });

  test('revoke and list refuse what does not lead to the user', async (t) => {
    const dataDir = await seededDataDir(t);
    await withLocalStore(dataDir, (store) => store.putSender({ grant: 'shared@example.org', owner: 'jane@example.org', createdAt: new Date().toISOString() }));
    assertRefused(await relayctl(['sender', 'revoke', 'john@example.org', 'shared@example.org'], { dataDir }), 2, /shared@example\.org is not granted to john@example\.org: shared@example\.org is granted to jane@example\.org$/m);
    assertRefused(
      await relayctl(['sender', 'revoke', 'john@example.org', 'never@example.org'], { dataDir }),
      2,
      /^relayctl: never@example\.org was never granted to john@example\.org, nor to anyone: nothing to revoke \(see relayctl sender list john@example\.org\)$/m,
    );
    assertRefused(await relayctl(['sender', 'revoke', 'john@example.org', 'john@example.org'], { dataDir }), 2, /is the login of john@example\.org, not a grant: remove the user instead/);
    assertRefused(await relayctl(['sender', 'revoke', 'nobody@example.org', 'shared@example.org'], { dataDir }), 2, /no user nobody@example\.org/);
    assertRefused(await relayctl(['sender', 'revoke', 'john@example.org', 'bad address'], { dataDir }), 1, /invalid sender/);
    assertRefused(await relayctl(['sender', 'list', 'nobody@example.org'], { dataDir }), 2, /no user nobody@example\.org/);
    assert.ok(await withLocalStore(dataDir, (store) => store.getSender('shared@example.org')), "jane's grant is untouched");
  });
});
