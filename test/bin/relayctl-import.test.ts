import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword, verifyPassword } from '../../lambda/password-hash.ts';
import { requireTools } from '../support/required-tools.ts';
import { jsonOf, relayctl, tempDataDir, withLocalStore, type CliRun } from './relayctl-process.ts';
import { MARIADB_TOOLS, startThrowawayMariaDb, type ThrowawayMariaDb } from './throwaway-mariadb.ts';

// Every password here is a fake test password. Hashes are made live by the
// real tools: doveadm pw (Debian dovecot-core) and mkpasswd (Debian whois).

interface ImportJson {
  readonly source: string;
  readonly file: string;
  readonly dryRun: boolean;
  readonly counts: Record<'imported' | 'would-import' | 'exists' | 'skipped' | 'conflict', number>;
  readonly entries: ReadonlyArray<{
    readonly kind: string;
    readonly address: string;
    readonly target?: string;
    readonly scheme?: string;
    readonly status: string;
    readonly reason?: string;
    readonly origin: string;
  }>;
}

function tool(command: string, args: readonly string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 20_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command}: ${stderr || error.message}`)) : resolve(stdout.trim()),
    );
    // doveadm never reads stdin and may be gone before it is closed.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

const HASH_TOOLS = { doveadm: 'dovecot-core', mkpasswd: 'whois' };
const doveadm = (scheme: string, password: string) => tool('doveadm', ['pw', '-s', scheme, '-p', password]);
const mkpasswd = (password: string) => tool('mkpasswd', ['-m', 'sha-512', '--stdin'], password);

function statusOf(report: ImportJson, kind: string, address: string) {
  const entry = report.entries.find((candidate) => candidate.kind === kind && candidate.address === address);
  assert.ok(entry, `${kind} ${address} is in the report`);
  return entry;
}

/** No hash any tool writes may reach stdout or stderr. */
function assertNoHashes(run: CliRun, hashes: readonly string[]): void {
  for (const hash of hashes) {
    const bare = hash.replace(/^\{[^}]+\}/, '');
    assert.ok(!run.stdout.includes(bare) && !run.stderr.includes(bare), 'no password hash in the output');
  }
}

describe('relayctl import dovecot', () => {
  test('imports a passwd-file made with doveadm pw and mkpasswd, keeping each hash as it is', { skip: requireTools(HASH_TOOLS) }, async (t) => {
    const dataDir = await tempDataDir(t);
    const passwords = {
      alice: 'alice fake password',
      bob: 'bob fake password',
      carol: 'carol fake password',
      dave: 'dave fake password',
      erin: 'erin fake password',
    };
    const hashes = {
      alice: await doveadm('SHA512-CRYPT', passwords.alice),
      bob: await doveadm('BLF-CRYPT', passwords.bob),
      carol: await doveadm('ARGON2ID', passwords.carol),
      dave: await mkpasswd(passwords.dave),
      erin: await doveadm('SHA256-CRYPT', passwords.erin),
      frank: await doveadm('PLAIN-MD5', 'frank fake password'),
      grace: await doveadm('CRYPT', 'grace fake password'),
      henry: await doveadm('SHA512-CRYPT', 'henry fake password'),
    };
    assert.match(hashes.dave, /^\$6\$/, 'mkpasswd writes a bare crypt hash');
    const file = path.join(dataDir, 'users.passwd');
    await writeFile(
      file,
      [
        '# Dovecot passwd-file (userdb and passdb)',
        `alice@example.com:${hashes.alice}:1000:1000::/var/vmail/alice::`,
        `Bob@Example.com:${hashes.bob}:1000:1000::/var/vmail/bob::userdb_quota_rule=*:storage=1G`,
        `carol@example.com:${hashes.carol}`,
        `dave@example.com:${hashes.dave}::::::`,
        `erin:${hashes.erin}:1000:1000::/var/vmail/erin::`,
        `frank@example.com:${hashes.frank}`,
        `grace@example.com:${hashes.grace}`,
        `henry@example.com:${hashes.henry}`,
        `no such user@example.com:${hashes.alice}`,
        `alice@example.com:${hashes.bob}`,
        '',
      ].join('\n'),
    );
    // henry's address is already another user's sender: the import must not take it.
    await withLocalStore(dataDir, async (store) => {
      await store.createUser('owner@example.com', await hashPassword('owner fake password'));
      await store.putSender({ grant: 'henry@example.com', owner: 'owner@example.com', createdAt: new Date().toISOString() });
    });

    const dry = await relayctl(['--json', 'import', 'dovecot', file, '--dry-run'], { dataDir });
    assert.equal(dry.code, 3, 'a conflict is exit 3, dry run or not');
    assert.match(dry.stderr, /^relayctl: 1 entry conflicts with the store; see the report\n$/);
    const planned = JSON.parse(dry.stdout) as ImportJson;
    assert.equal(planned.source, 'dovecot');
    assert.equal(planned.dryRun, true);
    assert.deepEqual(planned.counts, { imported: 0, 'would-import': 4, exists: 0, skipped: 5, conflict: 1 });
    assert.equal(statusOf(planned, 'user', 'alice@example.com').scheme, 'SHA512-CRYPT');
    assert.equal(statusOf(planned, 'user', 'bob@example.com').scheme, 'BLF-CRYPT');
    assert.equal(statusOf(planned, 'user', 'carol@example.com').scheme, 'ARGON2ID');
    assert.equal(statusOf(planned, 'user', 'dave@example.com').scheme, 'SHA512-CRYPT');
    assert.match(statusOf(planned, 'user', 'erin').reason!, /no domain: give --domain/);
    assert.match(statusOf(planned, 'user', 'frank@example.com').reason!, /\{PLAIN-MD5\} is a scheme the relay cannot verify.*relayctl user add/);
    assert.match(statusOf(planned, 'user', 'grace@example.com').reason!, /\{CRYPT\} labels a BLF-CRYPT hash/);
    assert.match(statusOf(planned, 'user', 'no such user@example.com').reason!, /not a valid address/);
    const henry = statusOf(planned, 'user', 'henry@example.com');
    assert.equal(henry.status, 'conflict');
    assert.match(henry.reason!, /henry@example\.com is granted to owner@example\.com as a sender/);
    const duplicate = planned.entries.filter((entry) => entry.address === 'alice@example.com');
    assert.deepEqual(duplicate.map((entry) => [entry.status, entry.origin]), [['would-import', 'line 2'], ['skipped', 'line 11']]);
    assert.match(duplicate[1]!.reason!, /listed already on line 2/);
    assert.deepEqual((await withLocalStore(dataDir, (store) => store.listUsers())).map((user) => user.login), ['owner@example.com'], 'a dry run writes nothing');

    const imported = await relayctl(['import', 'dovecot', file, '--domain', 'example.com'], { dataDir });
    assert.equal(imported.code, 3, imported.stderr);
    assert.match(imported.stdout, /^imported\s+user\s+alice@example\.com \(SHA512-CRYPT\)  \[line 2\]$/m);
    assert.match(imported.stdout, /^imported\s+user\s+erin@example\.com \(SHA256-CRYPT\)  \[line 6\]$/m);
    assert.match(imported.stdout, /^skipped\s+user\s+frank@example\.com: \{PLAIN-MD5\} is a scheme the relay cannot verify/m);
    assert.match(imported.stdout, /^conflict\s+user\s+henry@example\.com \(SHA512-CRYPT\): henry@example\.com is granted to owner@example\.com as a sender  \[line 9\]$/m);
    assert.match(imported.stdout, /^imported 5, exists 0, skipped 4, conflicts 1$/m);
    assertNoHashes(imported, Object.values(hashes));

    // The stored items: each hash exactly as the tool wrote it, and it still verifies.
    const stored = await withLocalStore(dataDir, async (store) => {
      const users = await store.listUsers();
      return new Map(users.map((user) => [user.login, user]));
    });
    assert.deepEqual([...stored.keys()], ['alice@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com', 'erin@example.com', 'owner@example.com']);
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin'] as const) {
      const user = stored.get(`${name}@example.com`)!;
      assert.equal(user.passwordHash, hashes[name], `${name}'s hash is stored as it is`);
      assert.equal(user.disabled, false);
      assert.deepEqual(await verifyPassword(passwords[name], user.passwordHash), { ok: true, needsRehash: true }, name);
    }

    const again = await relayctl(['--json', 'import', 'dovecot', file, '--domain', 'example.com'], { dataDir });
    const rerun = JSON.parse(again.stdout) as ImportJson;
    assert.deepEqual(rerun.counts, { imported: 0, 'would-import': 0, exists: 5, skipped: 4, conflict: 1 }, 'a re-run finds its own work');
    assertNoHashes(again, Object.values(hashes));
  });

  test('refuses an unreadable file and a bad --domain with exit 1', async (t) => {
    const dataDir = await tempDataDir(t);
    const missing = await relayctl(['import', 'dovecot', path.join(dataDir, 'nope')], { dataDir });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^relayctl: cannot read .*nope: ENOENT\n$/);
    const badDomain = await relayctl(['import', 'dovecot', '-', '--domain', 'no_such domain'], { dataDir, stdin: '' });
    assert.equal(badDomain.code, 1);
    assert.match(badDomain.stderr, /invalid --domain/);
  });
});

describe('relayctl import ispmail', { skip: requireTools({ ...HASH_TOOLS, ...MARIADB_TOOLS }) }, () => {
  let mariadb: ThrowawayMariaDb;
  let workDir: string;
  const passwords = {
    john: 'john fake password',
    jane: 'jane fake password',
    mixed: 'mixed fake password',
    obrien: "o'brien fake password",
  };
  const hashes: Record<string, string> = {};

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'relayctl-mariadb-'));
    mariadb = await startThrowawayMariaDb(workDir);
    hashes.john = await doveadm('BLF-CRYPT', passwords.john);
    hashes.jane = await doveadm('SHA512-CRYPT', passwords.jane);
    hashes.mixed = await doveadm('ARGON2ID', passwords.mixed);
    hashes.obrien = await mkpasswd(passwords.obrien);
    hashes.old = await doveadm('PLAIN-MD5', 'old fake password');
    hashes.crypt = await doveadm('CRYPT', 'crypt fake password');
    // The schema of the ISPmail guide (workaround.org, Debian Bookworm edition).
    await mariadb.sql(`
      CREATE DATABASE mailserver;
      USE mailserver;
      CREATE TABLE IF NOT EXISTS \`virtual_domains\` (
        \`id\` int(11) NOT NULL auto_increment,
        \`name\` varchar(50) NOT NULL,
        PRIMARY KEY (\`id\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
      CREATE TABLE IF NOT EXISTS \`virtual_users\` (
        \`id\` int(11) NOT NULL auto_increment,
        \`domain_id\` int(11) NOT NULL,
        \`email\` varchar(100) NOT NULL,
        \`password\` varchar(150) NOT NULL,
        \`quota\` bigint(11) NOT NULL DEFAULT 0,
        PRIMARY KEY (\`id\`),
        UNIQUE KEY \`email\` (\`email\`),
        FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
      CREATE TABLE IF NOT EXISTS \`virtual_aliases\` (
        \`id\` int(11) NOT NULL auto_increment,
        \`domain_id\` int(11) NOT NULL,
        \`source\` varchar(100) NOT NULL,
        \`destination\` varchar(100) NOT NULL,
        PRIMARY KEY (\`id\`),
        FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8;
      INSERT INTO virtual_domains (id, name) VALUES (1, 'example.org'), (2, 'example.net');
      INSERT INTO virtual_users (domain_id, email, password, quota) VALUES
        (1, 'john@example.org', '${hashes.john}', 0),
        (1, 'jane@example.org', '${hashes.jane}', 1073741824),
        (2, 'Mixed.Case@Example.NET', '${hashes.mixed}', 0),
        (1, 'o''brien@example.org', '${hashes.obrien}', 0),
        (1, 'old@example.org', '${hashes.old}', 0),
        (1, 'crypt@example.org', '${hashes.crypt}', 0);
      INSERT INTO virtual_aliases (domain_id, source, destination) VALUES
        (1, 'sales@example.org', 'john@example.org'),
        (1, 'info@example.org', 'sales@example.org'),
        (2, '@example.net', 'jane@example.org'),
        (1, 'fwd@example.org', 'someone@gmail.com'),
        (1, 'team@example.org', 'john@example.org,jane@example.org'),
        (1, 'list@example.org', 'john@example.org'),
        (1, 'list@example.org', 'jane@example.org'),
        (1, 'john@example.org', 'john@example.org'),
        (1, 'ghost@example.org', 'nobody@example.org'),
        (1, 'loop1@example.org', 'loop2@example.org'),
        (1, 'loop2@example.org', 'loop1@example.org'),
        (1, 'jane@example.org', 'jane.doe@gmail.com'),
        (1, 'old-alias@example.org', 'old@example.org');
    `);
  });
  after(async () => {
    await mariadb?.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  test('imports users, aliases and a catch-all from a real mysqldump; a re-run finds them all', async (t) => {
    const dataDir = await tempDataDir(t);
    const tables = ['virtual_domains', 'virtual_users', 'virtual_aliases'];
    const dumpFile = path.join(dataDir, 'ispmail.sql');
    const dump = await mariadb.dump('mailserver', tables);
    assert.match(dump, /^INSERT INTO `virtual_users` VALUES\n\(1,1,'john@example\.org'/m, 'extended inserts, as mysqldump writes by default');
    assert.match(dump, /'o\\'brien@example\.org'/, "mysqldump escapes the quote in o'brien");
    await writeFile(dumpFile, dump);

    const dry = jsonOf<ImportJson>(await relayctl(['--json', 'import', 'ispmail', dumpFile, '--dry-run'], { dataDir }));
    assert.deepEqual(dry.counts, { imported: 0, 'would-import': 8, exists: 0, skipped: 10, conflict: 0 });
    assert.deepEqual(await withLocalStore(dataDir, (store) => store.listUsers()), [], 'a dry run writes nothing');

    const run = await relayctl(['import', 'ispmail', dumpFile], { dataDir });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^imported 8, exists 0, skipped 10, conflicts 0$/m);
    assertNoHashes(run, Object.values(hashes));
    const report = jsonOf<ImportJson>(await relayctl(['--json', 'import', 'ispmail', dumpFile], { dataDir }));
    assert.deepEqual(report.counts, { imported: 0, 'would-import': 0, exists: 8, skipped: 10, conflict: 0 });
    const entry = (kind: string, address: string) => {
      const { status, target, scheme, reason } = statusOf(report, kind, address);
      return { status, ...(target ? { target } : {}), ...(scheme ? { scheme } : {}), ...(reason ? { reason } : {}) };
    };
    assert.deepEqual(entry('user', 'john@example.org'), { status: 'exists', scheme: 'BLF-CRYPT' });
    assert.deepEqual(entry('user', 'mixed.case@example.net'), { status: 'exists', scheme: 'ARGON2ID' });
    assert.deepEqual(entry('user', "o'brien@example.org"), { status: 'exists', scheme: 'SHA512-CRYPT' });
    assert.match(entry('user', 'old@example.org').reason!, /\{PLAIN-MD5\} is a scheme the relay cannot verify/);
    assert.match(entry('user', 'crypt@example.org').reason!, /\{CRYPT\} labels a BLF-CRYPT hash/);
    assert.deepEqual(entry('alias', 'sales@example.org'), { status: 'exists', target: 'john@example.org' });
    assert.deepEqual(entry('alias', 'info@example.org'), { status: 'exists', target: 'sales@example.org' });
    assert.deepEqual(entry('alias', 'old-alias@example.org'), { status: 'exists', target: 'old@example.org' });
    assert.deepEqual(entry('domain-grant', '@example.net'), { status: 'exists', target: 'jane@example.org' });
    assert.match(entry('alias', 'fwd@example.org').reason!, /forwards to someone@gmail\.com on another server/);
    assert.match(entry('alias', 'team@example.org').reason!, /several destinations/);
    assert.equal(entry('alias', 'team@example.org').target, 'john@example.org, jane@example.org');
    assert.match(entry('alias', 'list@example.org').reason!, /several destinations/, 'two rows of one source count together');
    assert.equal(statusOf(report, 'alias', 'list@example.org').origin, 'virtual_aliases ids 6, 7');
    assert.match(entry('alias', 'john@example.org').reason!, /points at itself only/);
    assert.match(entry('alias', 'jane@example.org').reason!, /is the login of a user/);
    assert.match(entry('alias', 'ghost@example.org').reason!, /nobody@example\.org, which is no user or alias here/);
    assert.match(entry('alias', 'loop1@example.org').reason!, /alias loop2@example\.org, which leads to no single user/);
    assert.match(entry('alias', 'loop2@example.org').reason!, /alias loop1@example\.org, which leads to no single user/);

    // The stored items, read back from the store.
    await withLocalStore(dataDir, async (store) => {
      assert.deepEqual((await store.listUsers()).map((user) => user.login), [
        'jane@example.org',
        'john@example.org',
        'mixed.case@example.net',
        "o'brien@example.org",
      ]);
      for (const [login, key] of [['john@example.org', 'john'], ['jane@example.org', 'jane'], ['mixed.case@example.net', 'mixed'], ["o'brien@example.org", 'obrien']] as const) {
        const user = await store.getUser(login);
        assert.equal(user!.passwordHash, hashes[key], `${login}'s hash is stored as it is`);
        assert.deepEqual(await verifyPassword(passwords[key], user!.passwordHash), { ok: true, needsRehash: true }, login);
      }
      const strip = (record: object | undefined) => {
        if (!record) return undefined;
        const { createdAt, ...rest } = record as { createdAt: string };
        assert.match(createdAt, /^\d{4}-\d\d-\d\dT/);
        return rest;
      };
      assert.deepEqual(strip(await store.getSender('sales@example.org')), { grant: 'sales@example.org', aliasOf: 'john@example.org' });
      assert.deepEqual(strip(await store.getSender('info@example.org')), { grant: 'info@example.org', aliasOf: 'sales@example.org' });
      assert.deepEqual(strip(await store.getSender('old-alias@example.org')), { grant: 'old-alias@example.org', aliasOf: 'old@example.org' });
      assert.deepEqual(strip(await store.getSender('@example.net')), { grant: '@example.net', owner: 'jane@example.org' });
      for (const skipped of ['fwd@example.org', 'team@example.org', 'list@example.org', 'ghost@example.org', 'loop1@example.org']) {
        assert.equal(await store.getSender(skipped), undefined, skipped);
      }
    });
    const john = jsonOf<{ senders: Array<{ grant: string; kind: string; aliasOf?: string }> }>(
      await relayctl(['--json', 'user', 'show', 'john@example.org'], { dataDir }),
    );
    assert.deepEqual(john.senders.map(({ grant, aliasOf }) => [grant, aliasOf]), [
      ['sales@example.org', 'john@example.org'],
      ['info@example.org', 'sales@example.org'],
    ]);

    // One row per INSERT with column names (--skip-extended-insert --complete-insert), read from stdin: the same import.
    const other = await mariadb.dump('mailserver', tables, ['--skip-extended-insert', '--complete-insert']);
    assert.match(other, /^INSERT INTO `virtual_users` \(`id`, `domain_id`, `email`, `password`, `quota`\) VALUES \(1,1,/m);
    const fromStdin = jsonOf<ImportJson>(await relayctl(['--json', 'import', 'ispmail', '-'], { dataDir, stdin: other }));
    assert.deepEqual(fromStdin.counts, report.counts);
  });

  test('refuses a dump without the ISPmail tables, or one it cannot read, with exit 1', async (t) => {
    const dataDir = await tempDataDir(t);
    const otherTable = await relayctl(['import', 'ispmail', '-'], { dataDir, stdin: "CREATE TABLE `t` (`a` int);\nINSERT INTO `t` VALUES (1);\n" });
    assert.equal(otherTable.code, 1);
    assert.match(otherTable.stderr, /^relayctl: standard input holds no virtual_users table; dump it with: mysqldump mailserver virtual_domains virtual_users virtual_aliases\n$/);
    const broken = await relayctl(['import', 'ispmail', '-'], { dataDir, stdin: "\n\nINSERT INTO `virtual_users` (`email`, `password`) VALUES ('a@example.org', 'unterminated);\n" });
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^relayctl: standard input, line 3: unterminated string\n$/);
  });
});
