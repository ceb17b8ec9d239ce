import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { hashPassword, verifyPassword } from '../../lambda/password-hash.ts';
import { jsonOf, relayctl, tempDataDir, withLocalStore, type CliRun } from './relayctl-process.ts';

// Every password here is a fake test password.

const GENERATED = /^password \(shown this once, keep it now\): (\S+)$/m;

interface UserJson {
  readonly login: string;
  readonly disabled: boolean;
  readonly passwordScheme: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly password?: string;
}

function assertRefused(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^relayctl: [^\n]+\n$/, 'one line on stderr');
  assert.match(run.stderr, pattern);
}

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('relayctl user', { concurrency: true }, () => {
  test('add generates a strong password, prints it once, and the stored hash verifies it', async (t) => {
    const dataDir = await tempDataDir(t);
    const added = await relayctl(['user', 'add', 'John@Example.org'], { dataDir });
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^added user john@example\.org$/m);
    const password = GENERATED.exec(added.stdout)?.[1];
    assert.ok(password);
    assert.match(password, /^[A-Za-z0-9_-]{24}$/, 'URL-safe, 24 characters (144 random bits)');
    assert.doesNotMatch(password, /^-/, 'no leading dash that a next tool would read as an option');
    assert.equal(occurrences(added.stdout + added.stderr, password), 1);

    const stored = await withLocalStore(dataDir, (store) => store.getUser('john@example.org'));
    assert.ok(stored);
    assert.match(stored.passwordHash, /^\$scrypt\$/);
    assert.deepEqual(await verifyPassword(password, stored.passwordHash), { ok: true, needsRehash: false });

    // Neither the password nor its hash shows anywhere afterwards.
    for (const args of [['user', 'list'], ['user', 'show', 'john@example.org'], ['--json', 'user', 'show', 'john@example.org']]) {
      const run = await relayctl(args, { dataDir });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(!run.stdout.includes(password) && !run.stdout.includes(stored.passwordHash), args.join(' '));
    }

    const json = jsonOf<UserJson>(await relayctl(['--json', 'user', 'add', 'jane@example.org'], { dataDir }));
    assert.deepEqual(Object.keys(json).sort(), ['createdAt', 'disabled', 'login', 'password', 'passwordScheme', 'updatedAt']);
    assert.equal(json.login, 'jane@example.org');
    assert.equal(json.passwordScheme, 'scrypt');
    assert.notEqual(json.password, password);
    const jane = await withLocalStore(dataDir, (store) => store.getUser('jane@example.org'));
    assert.equal((await verifyPassword(json.password!, jane!.passwordHash)).ok, true);
  });

  test('add --password-stdin takes one line less its newline, prints no password, refuses an empty one', async (t) => {
    const dataDir = await tempDataDir(t);
    const added = await relayctl(['user', 'add', 'john@example.org', '--password-stdin'], { dataDir, stdin: 'a long passphrase\n' });
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, 'added user john@example.org\n');
    const viaJson = await relayctl(['user', 'add', 'jane@example.org', '--password-stdin', '--json'], { dataDir, stdin: 'exact passphrase  ' });
    assert.equal(jsonOf<UserJson>(viaJson).password, undefined, 'a given password is never echoed');
    const [john, jane] = await withLocalStore(dataDir, (store) => Promise.all([store.getUser('john@example.org'), store.getUser('jane@example.org')]));
    assert.equal((await verifyPassword('a long passphrase', john!.passwordHash)).ok, true);
    assert.equal((await verifyPassword('exact passphrase  ', jane!.passwordHash)).ok, true, 'only a newline is trimmed, not spaces');

    assertRefused(await relayctl(['user', 'add', 'x@example.org', '--password-stdin'], { dataDir, stdin: '' }), 1, /no password on standard input/);
    assertRefused(await relayctl(['user', 'add', 'x@example.org', '--password-stdin'], { dataDir, stdin: 'one\ntwo\n' }), 1, /spans several lines/);
    assertRefused(await relayctl(['user', 'add', 'x@example.org', '--password-stdin'], { dataDir, stdin: 'x'.repeat(1025) }), 1, /1 to 1024 bytes/);
    assert.equal(await withLocalStore(dataDir, (store) => store.getUser('x@example.org')), undefined);
  });

  test('add refuses an invalid address, a duplicate, and an address granted to another user', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => {
      await store.createUser('owner@example.org', await hashPassword('fake password one'));
      await store.putSender({ grant: 'sales@example.org', owner: 'owner@example.org', createdAt: new Date().toISOString() });
      await store.putSender({ grant: 'info@example.org', aliasOf: 'sales@example.org', createdAt: new Date().toISOString() });
    });
    assertRefused(await relayctl(['user', 'add', 'not-an-address'], { dataDir }), 1, /invalid address "not-an-address": not a mail address/);
    assertRefused(await relayctl(['user', 'add', 'john@localhost'], { dataDir }), 1, /not fully qualified/);
    assertRefused(await relayctl(['user', 'add', 'jöhn@example.org'], { dataDir }), 1, /SMTPUTF8/);
    assertRefused(await relayctl(['user', 'add', 'OWNER@example.ORG'], { dataDir }), 3, /user owner@example\.org exists already/);
    assertRefused(await relayctl(['user', 'add', 'Sales@example.org'], { dataDir }), 3, /sales@example\.org is granted to owner@example\.org as a sender/);
    assertRefused(await relayctl(['user', 'add', 'info@example.org'], { dataDir }), 3, /info@example\.org is an alias of sales@example\.org/);
    const users = await withLocalStore(dataDir, (store) => store.listUsers());
    assert.deepEqual(users.map((user) => user.login), ['owner@example.org']);
  });

  test('passwd, disable and enable change an existing user; an unknown one is exit 2', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => store.createUser('john@example.org', await hashPassword('old fake password')));

    const generated = await relayctl(['user', 'passwd', 'john@example.org', '--yes'], { dataDir });
    assert.equal(generated.code, 0, generated.stderr);
    const password = GENERATED.exec(generated.stdout)?.[1];
    assert.ok(password);
    let john = await withLocalStore(dataDir, (store) => store.getUser('john@example.org'));
    assert.equal((await verifyPassword(password, john!.passwordHash)).ok, true);
    assert.equal((await verifyPassword('old fake password', john!.passwordHash)).ok, false);

    const fromStdin = await relayctl(['--json', 'user', 'passwd', 'john@example.org', '--password-stdin', '-y'], { dataDir, stdin: 'new fake password\n' });
    assert.deepEqual(jsonOf(fromStdin), { login: 'john@example.org', passwordChanged: true });
    john = await withLocalStore(dataDir, (store) => store.getUser('john@example.org'));
    assert.equal((await verifyPassword('new fake password', john!.passwordHash)).ok, true);

    const disabled = await relayctl(['user', 'disable', 'john@example.org'], { dataDir });
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.equal(disabled.stdout, 'disabled john@example.org\n');
    assert.equal((await withLocalStore(dataDir, (store) => store.getUser('john@example.org')))!.disabled, true);
    assert.deepEqual(jsonOf(await relayctl(['--json', 'user', 'enable', 'john@example.org'], { dataDir })), { login: 'john@example.org', disabled: false });
    assert.equal((await withLocalStore(dataDir, (store) => store.getUser('john@example.org')))!.disabled, false);

    for (const command of [['passwd', '--yes'], ['disable'], ['enable'], ['rm', '--yes'], ['show']]) {
      assertRefused(await relayctl(['user', ...command, 'nobody@example.org'], { dataDir }), 2, /no user nobody@example\.org/);
    }
    assertRefused(await relayctl(['user', 'passwd', 'nobody'], { dataDir }), 1, /invalid address/);
  });

  test('remove takes the user and every grant and alias that leads to it, and nothing else', async (t) => {
    const dataDir = await tempDataDir(t);
    const at = new Date().toISOString();
    await withLocalStore(dataDir, async (store) => {
      await store.createUser('john@example.org', await hashPassword('fake password one'));
      await store.createUser('jane@example.org', await hashPassword('fake password two'));
      await store.putSender({ grant: 'sales@example.org', owner: 'john@example.org', createdAt: at });
      await store.putSender({ grant: '@example.net', owner: 'john@example.org', createdAt: at });
      await store.putSender({ grant: 'j@example.org', aliasOf: 'john@example.org', createdAt: at });
      await store.putSender({ grant: 'info@example.org', aliasOf: 'sales@example.org', createdAt: at });
      await store.putSender({ grant: 'jane.doe@example.org', owner: 'jane@example.org', createdAt: at });
    });
    const removed = jsonOf<{ login: string; removed: boolean; removedSenders: string[] }>(
      await relayctl(['--json', 'user', 'remove', 'john@example.org', '--yes'], { dataDir }),
    );
    assert.equal(removed.login, 'john@example.org');
    assert.equal(removed.removed, true);
    assert.deepEqual([...removed.removedSenders].sort(), ['@example.net', 'info@example.org', 'j@example.org', 'sales@example.org']);
    await withLocalStore(dataDir, async (store) => {
      assert.equal(await store.getUser('john@example.org'), undefined);
      for (const grant of removed.removedSenders) assert.equal(await store.getSender(grant), undefined, grant);
      assert.ok(await store.getUser('jane@example.org'));
      assert.ok(await store.getSender('jane.doe@example.org'));
    });
    assertRefused(await relayctl(['user', 'rm', 'john@example.org', '--yes'], { dataDir }), 2, /no user john@example\.org/);
  });

  test('list and show give state, scheme, grants (aliases of aliases too) and settings, never a hash', async (t) => {
    const dataDir = await tempDataDir(t);
    const empty = await relayctl(['user', 'list'], { dataDir });
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '', 'nothing on stdout for scripts');
    assert.match(empty.stderr, /no users yet/);
    assert.deepEqual(jsonOf(await relayctl(['--json', 'user', 'list'], { dataDir })), []);

    const at = new Date().toISOString();
    const legacyHash = '{SHA512-CRYPT}$6$UQVuDAUmUx0FCYb3$LIEdbbUwmkBvBAlqyBMZ5Zp3kNjdN3Gv/47oUESlJFfMUdRWXlcWrUaPGAJ9MHp2ooHtF2I49K1C/Q/aCksKh1';
    const hashes = await withLocalStore(dataDir, async (store) => {
      await store.createUser('john@example.org', await hashPassword('fake password one'));
      await store.createUser('legacy@example.org', legacyHash);
      await store.updateUser('legacy@example.org', { disabled: true, settings: { configurationSet: 'team-a', messageTags: { team: 'a' }, allowedNetworks: ['192.0.2.0/24'], limits: { messagesPerMinute: 5 } } });
      await store.putSender({ grant: 'sales@example.org', owner: 'john@example.org', createdAt: at });
      await store.putSender({ grant: '@example.net', owner: 'john@example.org', createdAt: at });
      await store.putSender({ grant: 'info@example.org', aliasOf: 'sales@example.org', createdAt: at });
      await store.putSender({ grant: 'hello@example.org', aliasOf: 'info@example.org', createdAt: at });
      return (await store.listUsers()).map((user) => user.passwordHash);
    });

    const list = await relayctl(['user', 'list'], { dataDir });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^john@example\.org\s+enabled\s+scrypt\s+\S+$/m);
    assert.match(list.stdout, /^legacy@example\.org\s+disabled\s+SHA512-CRYPT\s+\S+$/m);
    const listed = jsonOf<UserJson[]>(await relayctl(['--json', 'user', 'list'], { dataDir }));
    assert.deepEqual(listed.map((user) => [user.login, user.disabled, user.passwordScheme]), [
      ['john@example.org', false, 'scrypt'],
      ['legacy@example.org', true, 'SHA512-CRYPT'],
    ]);
    assert.deepEqual(Object.keys(listed[0]!).sort(), ['createdAt', 'disabled', 'login', 'passwordScheme', 'updatedAt']);

    const show = await relayctl(['user', 'show', 'john@example.org'], { dataDir });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^state\s+enabled$/m);
    assert.match(show.stdout, /^sends as\s+john@example\.org  \(login\)$/m);
    assert.match(show.stdout, /^\s+sales@example\.org  \(address\)$/m);
    assert.match(show.stdout, /^\s+@example\.net  \(domain\)$/m);
    assert.match(show.stdout, /^\s+info@example\.org  \(alias of sales@example\.org\)$/m);
    assert.match(show.stdout, /^\s+hello@example\.org  \(alias of info@example\.org\)$/m);
    const shown = jsonOf<UserJson & { senders: Array<{ grant: string; kind: string; aliasOf?: string }>; settings: object }>(
      await relayctl(['--json', 'user', 'show', 'john@example.org'], { dataDir }),
    );
    assert.deepEqual(shown.senders.map(({ grant, kind, aliasOf }) => ({ grant, kind, ...(aliasOf ? { aliasOf } : {}) })), [
      { grant: '@example.net', kind: 'domain' },
      { grant: 'sales@example.org', kind: 'address' },
      { grant: 'info@example.org', kind: 'alias', aliasOf: 'sales@example.org' },
      { grant: 'hello@example.org', kind: 'alias', aliasOf: 'info@example.org' },
    ]);
    assert.deepEqual(shown.settings, {});

    const legacy = await relayctl(['user', 'show', 'legacy@example.org'], { dataDir });
    assert.match(legacy.stdout, /^password scheme\s+SHA512-CRYPT \(legacy; replaced by scrypt at the next login\)$/m);
    assert.match(legacy.stdout, /^state\s+disabled$/m);
    assert.match(legacy.stdout, /^configuration set\s+team-a$/m);
    assert.match(legacy.stdout, /^message tags\s+team=a$/m);
    assert.match(legacy.stdout, /^allowed networks\s+192\.0\.2\.0\/24$/m);
    assert.match(legacy.stdout, /^messages\/minute\s+5  \(own\)$/m);
    assert.match(legacy.stdout, /^recipients\/day\s+10000  \(default\)$/m, "the relay's default applies where the user has no limit");
    assert.match(show.stdout, /^messages\/minute\s+120  \(default\)$/m);
    const legacyJson = jsonOf<{ settings: object; effectiveLimits: object }>(await relayctl(['--json', 'user', 'show', 'legacy@example.org'], { dataDir }));
    assert.deepEqual(legacyJson.settings, { configurationSet: 'team-a', messageTags: { team: 'a' }, allowedNetworks: ['192.0.2.0/24'], limits: { messagesPerMinute: 5 } });
    assert.deepEqual(legacyJson.effectiveLimits, { messagesPerMinute: { value: 5, source: 'own' }, recipientsPerDay: { value: 10000, source: 'default' } });
    const otherDefault = await relayctl(['--json', 'user', 'show', 'legacy@example.org'], { dataDir, env: { DEFAULT_RECIPIENTS_PER_DAY: '0' } });
    assert.deepEqual(jsonOf<{ effectiveLimits: object }>(otherDefault).effectiveLimits, {
      messagesPerMinute: { value: 5, source: 'own' },
      recipientsPerDay: { value: 0, source: 'default' },
    }, 'the default is the one the relay would run with in this environment');
    for (const output of [list.stdout, show.stdout, legacy.stdout, JSON.stringify(listed), JSON.stringify(legacyJson)]) {
      for (const hash of hashes) assert.ok(!output.includes(hash.replace(/^\{[^}]+\}/, '')), 'no password hash in any output');
    }
  });

  test('set writes the settings map, validates every value, and clears what it is told to', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => store.createUser('john@example.org', await hashPassword('fake password one')));
    const set = await relayctl(
      [
        '--json', 'user', 'set', 'john@example.org',
        '--configuration-set', 'submission-relay-dev', '--tag', 'team=sales', '--tag', 'env=prod_1',
        '--allow-network', '192.0.2.0/24', '--allow-network', '2001:DB8::/32', '--allow-network', '198.51.100.7',
        '--messages-per-minute', '30', '--recipients-per-day', '2000',
      ],
      { dataDir },
    );
    const expected = {
      configurationSet: 'submission-relay-dev',
      messageTags: { team: 'sales', env: 'prod_1' },
      allowedNetworks: ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7/32'],
      limits: { messagesPerMinute: 30, recipientsPerDay: 2000 },
    };
    assert.deepEqual(jsonOf(set), { login: 'john@example.org', settings: expected });
    assert.deepEqual((await withLocalStore(dataDir, (store) => store.getUser('john@example.org')))!.settings, expected);

    const human = await relayctl(['user', 'set', 'john@example.org', '--tag', 'extra=1', '--clear-limits', '--recipients-per-day', '10'], { dataDir });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^updated the settings of john@example\.org$/m);
    assert.match(human.stdout, /^message tags\s+team=sales, env=prod_1, extra=1$/m);
    assert.match(human.stdout, /^limits\s+10 recipients\/day$/m);

    const cleared = await relayctl(['--json', 'user', 'set', 'john@example.org', '--no-configuration-set', '--clear-tags', '--tag', 'only=this', '--clear-networks'], { dataDir });
    assert.deepEqual(jsonOf(cleared), { login: 'john@example.org', settings: { messageTags: { only: 'this' }, limits: { recipientsPerDay: 10 } } });
    assert.deepEqual((await withLocalStore(dataDir, (store) => store.getUser('john@example.org')))!.settings, {
      messageTags: { only: 'this' },
      limits: { recipientsPerDay: 10 },
    });

    // One of each kind here; relayctl-settings-validation.test.ts tries the variants in-process.
    const refusals: Array<[string[], RegExp]> = [
      [[], /nothing to change/],
      [['--allow-network', '10.1.2.3/8'], /host bits are set after \/8; give the network \(10\.0\.0\.0\/8\) or the host \(10\.1\.2\.3\/32\)/],
      [['--tag', 'bad name=x'], /invalid tag "bad name=x"/],
      [['--configuration-set', 'has space'], /invalid configuration set/],
      [['--messages-per-minute', '-1'], /invalid --messages-per-minute "-1": give a whole number from 0 \(no limit\) to 999999999/],
      [['--configuration-set', 'sales-events'], /configuration set "sales-events" is not one stage dev defines \(allowed: submission-relay-dev\); add it to additionalConfigurationSets/],
      [['--stage', 'prod', '--configuration-set', 'submission-relay-dev'], /is not one stage prod defines \(allowed: submission-relay-prod\)/],
      [['--stage', 'nowhere', '--configuration-set', 'submission-relay-dev'], /unknown stage "nowhere"; cdk\.json defines: dev, prod/],
    ];
    for (const [options, pattern] of refusals) {
      assertRefused(await relayctl(['user', 'set', 'john@example.org', ...options], { dataDir }), 1, pattern);
    }
    assertRefused(await relayctl(['user', 'set', 'nobody@example.org', '--clear-tags'], { dataDir }), 2, /no user nobody@example\.org/);
    assert.deepEqual((await withLocalStore(dataDir, (store) => store.getUser('john@example.org')))!.settings, {
      messageTags: { only: 'this' },
      limits: { recipientsPerDay: 10 },
    }, 'a refused change writes nothing');
  });

  test('0 is no limit for one user; show marks each limit own or default', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => store.createUser('bulk@example.org', await hashPassword('fake password one')));
    const set = await relayctl(['user', 'set', 'bulk@example.org', '--messages-per-minute', '0', '--stage', 'prod', '--configuration-set', 'submission-relay-prod'], { dataDir });
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^limits\s+unlimited messages\/minute$/m);
    const stored = await withLocalStore(dataDir, (store) => store.getUser('bulk@example.org'));
    assert.deepEqual(stored!.settings, { configurationSet: 'submission-relay-prod', limits: { messagesPerMinute: 0 } });
    const show = await relayctl(['user', 'show', 'bulk@example.org'], { dataDir, env: { DEFAULT_RECIPIENTS_PER_DAY: '500' } });
    assert.match(show.stdout, /^messages\/minute\s+unlimited  \(own\)$/m);
    assert.match(show.stdout, /^recipients\/day\s+500  \(default\)$/m);

    await withLocalStore(dataDir, (store) =>
      store.restrictUser('bulk@example.org', { state: 'throttled', reason: 'complaints', messagesPerMinute: 5, since: new Date().toISOString(), by: 'reputation' }),
    );
    const throttled = await relayctl(['user', 'show', 'bulk@example.org'], { dataDir });
    assert.match(throttled.stdout, /^messages\/minute\s+5  \(throttled\)$/m, 'a throttle caps even an unlimited user');
  });

  test('passwd and rm ask first: refused without a terminal unless --yes, and nothing changes', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => store.createUser('john@example.org', await hashPassword('old fake password')));
    assertRefused(
      await relayctl(['user', 'passwd', 'john@example.org', '--password-stdin'], { dataDir, stdin: 'new fake password\n' }),
      1,
      /^relayctl: Replace the password of john@example\.org: not confirmed \(no terminal to ask on\); give --yes to confirm$/m,
    );
    assertRefused(await relayctl(['user', 'rm', 'john@example.org'], { dataDir }), 1, /Remove user john@example\.org: not confirmed .* give --yes/);
    const john = await withLocalStore(dataDir, (store) => store.getUser('john@example.org'));
    assert.equal((await verifyPassword('old fake password', john!.passwordHash)).ok, true, 'the password is unchanged');
  });

  test('weak passwords are refused unless --allow-weak; the message never quotes them', async (t) => {
    const dataDir = await tempDataDir(t);
    const short = await relayctl(['user', 'add', 'a@example.org', '--password-stdin'], { dataDir, stdin: 'Short pw 1\n' });
    assertRefused(short, 1, /the password is shorter than 12 characters; .* or give --allow-weak$/m);
    // On zxcvbn-ts's common list, and long enough to pass the length rule; case is ignored.
    const common = await relayctl(['user', 'add', 'a@example.org', '--password-stdin'], { dataDir, stdin: 'QWERTY123456\n' });
    assertRefused(common, 1, /the password is on a list of common passwords/);
    for (const run of [short, common]) assert.ok(!run.stderr.includes('Short pw') && !run.stderr.toLowerCase().includes('qwerty'));
    assert.equal(await withLocalStore(dataDir, (store) => store.getUser('a@example.org')), undefined);

    const allowed = await relayctl(['user', 'add', 'a@example.org', '--password-stdin', '--allow-weak'], { dataDir, stdin: 'qwerty123456\n' });
    assert.equal(allowed.code, 0, allowed.stderr);
    assertRefused(
      await relayctl(['user', 'passwd', 'a@example.org', '--password-stdin', '--yes'], { dataDir, stdin: 'password\n' }),
      1,
      /shorter than 12 characters/,
    );
  });

  test('a stale endpoint file (npm start killed) falls back to opening the store', async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async (store) => store.createUser('john@example.org', await hashPassword('fake password one')));
    // Port 9 (discard) has no listener here: the file names a stack that is gone.
    await writeFile(path.join(dataDir, 'dynamodb.endpoint'), 'http://127.0.0.1:9\n');
    const listed = jsonOf<UserJson[]>(await relayctl(['--json', 'user', 'list'], { dataDir }));
    assert.deepEqual(listed.map((user) => user.login), ['john@example.org']);
  });

  test('runs on one data dir take turns instead of failing', async (t) => {
    const dataDir = await tempDataDir(t);
    const logins = ['a', 'b', 'c', 'd'].map((name) => `${name}@example.org`);
    const runs = await Promise.all(logins.map((login) => relayctl(['user', 'add', login, '--password-stdin'], { dataDir, stdin: 'fake password\n' })));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const users = await withLocalStore(dataDir, (store) => store.listUsers());
    assert.deepEqual(users.map((user) => user.login), logins);
  });
});
