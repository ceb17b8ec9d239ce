import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestRelay, withoutTraceHeader, type TestRelay } from '../support/relay-fixture.ts';
import { requireTools } from '../support/required-tools.ts';

const run = promisify(execFile);
const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

/** The README's "send a test mail" step, with the real swaks, as a new user would run it. */
// swaks speaks TLS through Net::SSLeay, a package of its own.
describe('swaks, as in the README', { skip: requireTools({ swaks: 'swaks' }) }, () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startTestRelay();
    await relay.addUser(USER, PASSWORD);
  });
  after(() => relay.close());

  for (const [port, flags] of [
    ['587 with STARTTLS', ['--tls']],
    ['465 with implicit TLS', ['--tlsc']],
  ] as const) {
    test(`swaks over ${port} gets 250 and SES has the bytes`, async () => {
      const message = 'From: john@example.org\r\nTo: someone@example.net\r\nSubject: swaks test\r\n\r\nHello from swaks.\r\n';
      const file = path.join(relay.dataDir, `swaks-${flags[0]}.eml`);
      await writeFile(file, message);
      const serverPort = flags[0] === '--tls' ? relay.submissionPort : relay.submissionsPort;
      const { stdout } = await run('swaks', [
        '--server', `127.0.0.1:${serverPort}`, ...flags,
        '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD,
        '--from', USER, '--to', 'someone@example.net', '--data', `@${file}`,
      ]);
      const id = /<~\s+250 2\.0\.0 Ok: queued as (\S+)/.exec(stdout)?.[1];
      assert.ok(id, stdout.split('\n').filter((line) => line.includes('<~') || line.includes('<-')).join('\n'));
      const sent = (await relay.outbox()).find((m) => m.id === id);
      assert.ok(sent);
      // swaks writes the file, then <CRLF>.<CRLF>: the CRLF it adds is message content.
      assert.equal(withoutTraceHeader(sent.raw).toString(), `${message}\r\n`);
      assert.deepEqual(sent.meta.destinations, ['someone@example.net']);
    });
  }

  test('swaks without --tls cannot even try AUTH', async () => {
    const result = await run('swaks', [
      '--server', `127.0.0.1:${relay.submissionPort}`,
      '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD,
      '--from', USER, '--to', 'someone@example.net',
    ]).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Host did not advertise authentication/);
    assert.doesNotMatch(result.stdout, /AUTH/);
  });
});
