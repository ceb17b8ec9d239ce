import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { hashPassword } from '../../lambda/password-hash.ts';
import { jsonOf, relayctl, tempDataDir, withLocalStore } from './relayctl-process.ts';

// Every password here is a fake test password.

const legacy = (JSON.parse(await readFile(new URL('../fixtures/legacy-hashes.json', import.meta.url), 'utf8')) as {
  hashes: Array<{ scheme: string; password: string; hash: string }>;
}).hashes.find((entry) => entry.scheme === 'SHA512-CRYPT')!;

interface AuthTestJson {
  readonly login: string;
  readonly ok: boolean;
  readonly refusal?: string;
  readonly reason?: string;
  readonly networksNotChecked?: string[];
}

describe('relayctl auth test', { concurrency: true }, () => {
  test('says ok, or why the relay would refuse: unknown user, wrong password, disabled, network', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => {
      await store.createUser('john@example.org', await hashPassword('john fake password'));
      await store.createUser('off@example.org', await hashPassword('off fake password'));
      await store.updateUser('off@example.org', { disabled: true });
      await store.createUser('office@example.org', await hashPassword('office fake password'));
      await store.updateUser('office@example.org', { settings: { allowedNetworks: ['192.0.2.0/24'] } });
      await store.createUser('held@example.org', await hashPassword('held fake password'));
      await store.restrictUser('held@example.org', { state: 'suspended', reason: 'bounce rate 7.1 % over 24 h', since: new Date().toISOString(), by: 'ops@example.org' });
    });
    const test = (login: string, password: string, ...options: string[]) => relayctl(['auth', 'test', login, ...options], { dataDir, stdin: `${password}\n` });

    const ok = await test('John@Example.org', 'john fake password');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'ok: john@example.org would be let in\n');
    assert.equal(ok.stderr, '');

    const refusals: Array<[string, string, string[], string]> = [
      ['nobody@example.org', 'john fake password', [], 'unknown user'],
      ['john@example.org', 'not the password', [], 'wrong password'],
      ['off@example.org', 'off fake password', [], 'the user is disabled (relayctl user enable)'],
      ['office@example.org', 'office fake password', ['--from', '198.51.100.7'], 'not from an allowed network of the user'],
      ['held@example.org', 'held fake password', [], 'the user is suspended (relayctl user reinstate): bounce rate 7.1 % over 24 h'],
      ['held@example.org', 'not the password', [], 'wrong password'],
    ];
    for (const [login, password, options, reason] of refusals) {
      const run = await test(login, password, ...options);
      assert.equal(run.code, 6, `${login}: ${run.stderr}`);
      assert.equal(run.stdout, `refused: ${reason}\n`);
      assert.equal(run.stderr, `relayctl: login refused: ${reason}\n`);
      assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password), 'the password is never echoed');
    }

    const inside = await test('office@example.org', 'office fake password', '--from', '192.0.2.25');
    assert.equal(inside.code, 0, inside.stderr);
    const unchecked = jsonOf<AuthTestJson>(await relayctl(['--json', 'auth', 'test', 'office@example.org'], { dataDir, stdin: 'office fake password\n' }));
    assert.deepEqual(unchecked, { login: 'office@example.org', ok: true, networksNotChecked: ['192.0.2.0/24'] });
    const refusedJson = await relayctl(['--json', 'auth', 'test', 'john@example.org'], { dataDir, stdin: 'wrong\n' });
    assert.equal(refusedJson.code, 6);
    assert.deepEqual(JSON.parse(refusedJson.stdout), { login: 'john@example.org', ok: false, refusal: 'wrong-password', reason: 'wrong password' });
  });

  test('counts as a login on the store: a matching legacy hash is replaced by scrypt', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, (store) => store.createUser('old@example.org', legacy.hash));
    const wrong = await relayctl(['auth', 'test', 'old@example.org'], { dataDir, stdin: 'not it\n' });
    assert.equal(wrong.code, 6);
    assert.equal((await withLocalStore(dataDir, (store) => store.getUser('old@example.org')))!.passwordHash, legacy.hash, 'a failed test changes nothing');
    const ok = await relayctl(['auth', 'test', 'old@example.org'], { dataDir, stdin: `${legacy.password}\n` });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match((await withLocalStore(dataDir, (store) => store.getUser('old@example.org')))!.passwordHash, /^\$scrypt\$/);
  });

  test('refuses bad input before reading the store', async (t) => {
    const dataDir = await tempDataDir(t);
    const badFrom = await relayctl(['auth', 'test', 'john@example.org', '--from', '192.0.2.300'], { dataDir, stdin: 'x\n' });
    assert.equal(badFrom.code, 1);
    assert.equal(badFrom.stderr, 'relayctl: invalid --from "192.0.2.300": give an IPv4 or IPv6 address\n');
    const noPassword = await relayctl(['auth', 'test', 'john@example.org'], { dataDir, stdin: '' });
    assert.equal(noPassword.code, 1);
    assert.equal(noPassword.stderr, 'relayctl: no password on standard input\n');
  });
});
