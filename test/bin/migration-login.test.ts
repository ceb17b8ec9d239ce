import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { requireTools } from '../support/required-tools.ts';
import { relayctl } from './relayctl-process.ts';
import { MARIADB_TOOLS, startThrowawayMariaDb, type ThrowawayMariaDb } from './throwaway-mariadb.ts';

const run = promisify(execFile);
const doveadm = async (scheme: string, password: string) => (await run('doveadm', ['pw', '-s', scheme, '-p', password])).stdout.trim();

// Fake test passwords only.
const PASSWORDS = {
  'alice@example.org': 'alice fake password',
  'bob@example.org': 'bob fake password',
  'john@example.net': 'john fake password',
} as const;

/**
 * The migration as an operator does it: a Dovecot passwd-file and an ISPmail
 * mysqldump made by the real tools, imported with relayctl into a running
 * relay (found, as an operator's relayctl finds it, through the running
 * stack's data dir), and then the users log in with the passwords they always had, through
 * a real SMTP client, and send as their old aliases.
 */
describe('users imported from Dovecot and ISPmail keep their passwords', { skip: requireTools({ doveadm: 'dovecot-core', ...MARIADB_TOOLS }) }, () => {
  let relay: TestRelay;
  let mariadb: ThrowawayMariaDb;
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'relay-migration-'));
    // No permit cache: each login below must reach the policy and the stored hash.
    relay = await startTestRelay({ env: { POLICY_CACHE_SECONDS: '0' }, usersOnDisk: true });

    const passwd = path.join(workDir, 'users.passwd');
    await writeFile(
      passwd,
      `alice@example.org:${await doveadm('SHA512-CRYPT', PASSWORDS['alice@example.org'])}:5000:5000::/var/vmail/alice::\n` +
        `bob@example.org:${await doveadm('ARGON2ID', PASSWORDS['bob@example.org'])}\n`,
    );
    const dovecot = await relayctl(['import', 'dovecot', passwd], { dataDir: relay.dataDir });
    assert.equal(dovecot.code, 0, dovecot.stderr);

    mariadb = await startThrowawayMariaDb(workDir);
    const john = await doveadm('BLF-CRYPT', PASSWORDS['john@example.net']);
    await mariadb.sql(`
      CREATE DATABASE mailserver; USE mailserver;
      CREATE TABLE virtual_domains (id int NOT NULL auto_increment, name varchar(50) NOT NULL, PRIMARY KEY (id));
      CREATE TABLE virtual_users (id int NOT NULL auto_increment, domain_id int NOT NULL, email varchar(100) NOT NULL,
        password varchar(150) NOT NULL, quota bigint NOT NULL DEFAULT 0, PRIMARY KEY (id), UNIQUE KEY email (email));
      CREATE TABLE virtual_aliases (id int NOT NULL auto_increment, domain_id int NOT NULL, source varchar(100) NOT NULL,
        destination varchar(100) NOT NULL, PRIMARY KEY (id));
      INSERT INTO virtual_domains (id, name) VALUES (1, 'example.net');
      INSERT INTO virtual_users (domain_id, email, password) VALUES (1, 'john@example.net', '${john}');
      INSERT INTO virtual_aliases (domain_id, source, destination) VALUES
        (1, 'sales@example.net', 'john@example.net'), (1, 'info@example.net', 'sales@example.net');
    `);
    const dumpFile = path.join(workDir, 'ispmail.sql');
    await writeFile(dumpFile, await mariadb.dump('mailserver', ['virtual_domains', 'virtual_users', 'virtual_aliases']));
    const ispmail = await relayctl(['import', 'ispmail', dumpFile], { dataDir: relay.dataDir });
    assert.equal(ispmail.code, 0, ispmail.stderr);
  });

  after(async () => {
    await mariadb?.stop();
    await relay?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  for (const [login, password] of Object.entries(PASSWORDS)) {
    test(`${login} logs in with the original password through nodemailer, and is rehashed to scrypt`, async () => {
      const before = (await relay.stack.store.getUser(login))?.passwordHash ?? '';
      assert.match(before, /^\{(SHA512-CRYPT|ARGON2ID|BLF-CRYPT)\}/, 'stored as imported');
      const transport = relay.transport({ user: login, pass: password });
      const info = await transport.sendMail({ from: login, to: 'someone@example.com', subject: 'migrated', text: 'still me' });
      transport.close();
      assert.match(info.response ?? '', /^250 2\.0\.0 Ok: queued as /);
      assert.match((await relay.stack.store.getUser(login))?.passwordHash ?? '', /^\$scrypt\$/);

      const again = relay.transport({ user: login, pass: password });
      await again.verify();
      again.close();
      const wrong = relay.transport({ user: login, pass: `${password}!` });
      await assert.rejects(wrong.verify(), /535/);
      wrong.close();
    });
  }

  test('an ISPmail alias chain is still the user\'s to send from', async () => {
    const transport = relay.transport({ user: 'john@example.net', pass: PASSWORDS['john@example.net'] });
    const info = await transport.sendMail({ from: 'info@example.net', to: 'someone@example.com', subject: 'alias', text: 'via alias' });
    transport.close();
    assert.match(info.response ?? '', /^250 /);
  });
});
