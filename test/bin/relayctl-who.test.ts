import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { hashPassword } from '../../lambda/password-hash.ts';
import { MAX_ALIAS_DEPTH } from '../../lambda/user-store.ts';
import { jsonOf, relayctl, withLocalStore } from './relayctl-process.ts';

/** `relayctl who`, run as a child process against one local store seeded by the test. */
// One data dir for all: the runs take turns on it (as relayctl runs do), so the tests run one at a time.
describe('relayctl who', () => {
  let dataDir: string;
  const who = (...args: string[]) => relayctl(['who', ...args], { dataDir });

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'relayctl-who-'));
    const createdAt = new Date().toISOString();
    await withLocalStore(dataDir, async (store) => {
      const hash = await hashPassword('fake password one');
      for (const login of ['bob@corp.example', 'mary@example.org', 'cfo@corp.example', 'gone@example.org']) await store.createUser(login, hash);
      await store.updateUser('gone@example.org', { disabled: true });
      await store.putSender({ grant: '@corp.example', owner: 'bob@corp.example', createdAt });
      await store.putSender({ grant: 'ceo@corp.example', owner: 'mary@example.org', createdAt });
      await store.putSender({ grant: 'press@corp.example', aliasOf: 'ceo@corp.example', createdAt });
      await store.putSender({ grant: 'old@example.org', owner: 'gone@example.org', createdAt });
      await store.putSender({ grant: 'orphan@example.org', aliasOf: 'removed@example.org', createdAt });
      for (let i = 1; i <= MAX_ALIAS_DEPTH; i++) {
        await store.putSender({ grant: `deep${i}@corp.example`, aliasOf: i === 1 ? 'mary@example.org' : `deep${i - 1}@corp.example`, createdAt });
      }
    });
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  test('an address granted to one user is theirs, and the domain grant it outranks is named', async () => {
    const run = await who('CEO@Corp.Example');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      'ceo@corp.example: mary@example.org (address grant)\n' +
        '  ceo@corp.example granted to mary@example.org\n' +
        '  @corp.example is granted to bob@corp.example, but does not cover ceo@corp.example: an address owned explicitly comes first\n',
    );
    assert.equal(run.stderr, '');
  });

  test('an alias chain is shown link by link, in --json too', async () => {
    const run = await who('press@corp.example');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^press@corp\.example: mary@example\.org \(alias\)\n {2}press@corp\.example alias of ceo@corp\.example\n {2}ceo@corp\.example granted to mary@example\.org\n/);
    assert.deepEqual(jsonOf(await relayctl(['--json', 'who', 'press@corp.example'], { dataDir })), {
      address: 'press@corp.example',
      owner: 'mary@example.org',
      via: 'alias',
      steps: [
        { grant: 'press@corp.example', aliasOf: 'ceo@corp.example' },
        { grant: 'ceo@corp.example', owner: 'mary@example.org' },
      ],
      disabled: false,
      outranks: { grant: '@corp.example', owner: 'bob@corp.example' },
    });
  });

  test("a login inside a granted domain is its user's; any other address of the domain is the holder's", async () => {
    const login = await who('cfo@corp.example');
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /^cfo@corp\.example: cfo@corp\.example \(its own login\)\n {2}@corp\.example is granted to bob@corp\.example, but does not cover/);
    const domain = await who('anyone@corp.example');
    assert.equal(domain.code, 0, domain.stderr);
    assert.equal(domain.stdout, 'anyone@corp.example: bob@corp.example (domain grant)\n  @corp.example granted to bob@corp.example\n');
  });

  test('a disabled owner is named and marked', async () => {
    const run = jsonOf<{ owner: string; disabled: boolean }>(await relayctl(['--json', 'who', 'old@example.org'], { dataDir }));
    assert.equal(run.owner, 'gone@example.org');
    assert.equal(run.disabled, true);
    assert.match((await who('old@example.org')).stdout, /gone@example\.org is disabled: it may not log in/);
  });

  test('nobody: exit 1 with the reason in one plain line, and in --json', async () => {
    const cases = [
      ['someone@example.net', /^relayctl: nobody may send as someone@example\.net: no user has it as login, no grant or alias names it, and its domain is not granted\n$/],
      ['orphan@example.org', /^relayctl: nobody may send as orphan@example\.org: it leads to an address that is no user \(orphan@example\.org alias of removed@example\.org\)\n$/],
      [`deep${MAX_ALIAS_DEPTH}@corp.example`, /^relayctl: nobody may send as deep\d+@corp\.example: its alias chain is too long or loops \(/],
    ] as const;
    for (const [address, message] of cases) {
      const run = await who(address);
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, message);
    }
    const json = await relayctl(['--json', 'who', `deep${MAX_ALIAS_DEPTH}@corp.example`], { dataDir });
    assert.equal(json.code, 1);
    const answer = JSON.parse(json.stdout) as { owner: unknown; why: string; steps: unknown[] };
    assert.equal(answer.owner, null, 'not the domain holder: an address named explicitly never falls to its domain');
    assert.equal(answer.why, 'alias-chain-broken');
    assert.equal(answer.steps.length, MAX_ALIAS_DEPTH);
  });

  test('an invalid address is refused as input', async () => {
    const run = await who('not an address');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^relayctl: invalid address "not an address"/);
  });
});
