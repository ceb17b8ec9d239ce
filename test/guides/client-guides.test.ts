import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestRelay, withoutTraceHeader, type OutboxMessage, type TestRelay } from '../support/relay-fixture.ts';
import { requireTools } from '../support/required-tools.ts';
import { GuideSnippets, localize, type SnippetChange } from './guide-snippets.ts';
import { PostfixInstance } from './postfix-instance.ts';
import { describeRun, runClient, type ClientRun } from './run-client.ts';

/** The login, password and addresses the guide's snippets use; the relay under test gets exactly this user. */
const LOGIN = 'john@example.org';
const PASSWORD = 'a long passphrase';
const RECIPIENT = 'someone@example.net';
const WRONG_PASSWORD = 'not the passphrase';
const NOT_OWNED = 'boss@example.org';
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every snippet on the page; each is run below. A new snippet fails this list until a test runs it. */
const SNIPPETS = [
  'mail.txt',
  'postfix/main.cf', 'postfix/sasl_passwd', 'postfix/commands', 'postfix/send',
  'postfix/main.cf-465', 'postfix/sasl_passwd-465', 'postfix/local',
  'msmtp/msmtprc', 'msmtp/send', 'msmtp/send-465',
  'curl/587', 'curl/465',
  'python/587', 'python/465',
  'nodemailer/587', 'nodemailer/465',
  'swaks/587', 'swaks/465',
];

type Port = '587' | '465';
const PORTS: readonly Port[] = ['587', '465'];

/** What a client reports for one refusal, as the guide's table says. */
interface Refusal {
  readonly exit: number;
  readonly output: RegExp;
}

interface SendOptions {
  /** Changes after the local ones: a refusal test's wrong password or unowned sender. */
  readonly extra?: readonly SnippetChange[];
  /** False runs the snippet trusting only the system's CAs, as deployed. @default true */
  readonly trustLocalCert?: boolean;
}

interface ClientGuide {
  readonly name: string;
  /** The programs it runs, with their Debian packages: its tests skip without them. */
  readonly tools: Readonly<Record<string, string>>;
  /** Runs the guide's snippet for `port` with the local changes its note describes; `dir` is where it ran. */
  send(port: Port, options?: SendOptions): Promise<{ run: ClientRun; dir: string }>;
  /** Client-specific checks of an accepted message. */
  checkSent(message: OutboxMessage, run: ClientRun, dir: string): Promise<void>;
  readonly wrongPassword: readonly SnippetChange[];
  readonly notOwned: readonly SnippetChange[];
  readonly refusals: { readonly badLogin: Refusal; readonly notOwned: Refusal; readonly tempFail: Refusal; readonly untrusted: Refusal };
}

describe("client guides: every snippet of docs/client-guides.md, run against a local relay", () => {
  let relay: TestRelay;
  let guide: GuideSnippets;
  let workDir: string;
  let dirCount = 0;

  before(async () => {
    guide = await GuideSnippets.load();
    workDir = await mkdtemp(path.join(tmpdir(), 'relay-guides-'));
    // Postfix's daemons, running as the postfix user, must reach their queue below it.
    await chmod(workDir, 0o755);
    relay = await startTestRelay();
    await relay.addUser(LOGIN, PASSWORD);
  });
  after(async () => {
    await relay?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const listenerPort = (port: Port) => (port === '587' ? relay.submissionPort : relay.submissionsPort);
  const freshDir = async (label: string) => {
    const dir = path.join(workDir, `${label}-${++dirCount}`);
    await mkdir(dir);
    return dir;
  };
  /** The local note's host and port: `localhost` (named by the local certificate) and the listener's free port. */
  const hostAndPort = (port: Port): SnippetChange[] => [
    ['smtp.example.com', 'localhost'],
    [new RegExp(`\\b${port}\\b`, 'g'), String(listenerPort(port))],
  ];
  const shell = (script: string, cwd: string, env?: Record<string, string>) => runClient('bash', ['-e', '-c', script], { cwd, ...(env ? { env } : {}) });
  /** Runs the guide's `mail.txt` snippet in `dir`, as a user following the guide would first. */
  const writeTestMessage = async (dir: string) => {
    const run = await shell(guide.get('mail.txt'), dir);
    assert.equal(run.code, 0, describeRun(run));
  };

  const outboxIds = async () => new Set((await relay.outbox()).map((message) => message.id));
  /** Messages SES accepted since `before`; waits up to `timeoutMs` for `count` of them (Postfix delivers in the background). */
  const newMessages = async (before: ReadonlySet<string>, count: number, timeoutMs = 0) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fresh = (await relay.outbox()).filter((message) => !before.has(message.id));
      if (fresh.length >= count || Date.now() >= deadline) return fresh;
      await sleep(100);
    }
  };
  /** The relay listener a message came in on: the session id in the relay's Received header, matched to its connect log line. */
  const listenerOf = (message: OutboxMessage) => {
    const trace = message.raw.subarray(0, message.raw.length - withoutTraceHeader(message.raw).length).toString('latin1');
    const session = / id (\S+);/.exec(trace)?.[1];
    const connect = relay.logLines().find((line) => line.event === 'connect' && line.session === session);
    return connect?.port;
  };
  const assertEnvelope = (message: OutboxMessage) => {
    assert.equal(message.meta.from, LOGIN);
    assert.deepEqual(message.meta.destinations, [RECIPIENT]);
  };
  /** A file the client sends as it is, line ends made CRLF, arrives byte for byte behind the relay's Received header. */
  const assertSentAsIs = async (message: OutboxMessage, dir: string) => {
    const file = await readFile(path.join(dir, 'mail.txt'), 'utf8');
    assert.equal(withoutTraceHeader(message.raw).toString(), file.replaceAll('\n', '\r\n'));
  };

  const clients: ClientGuide[] = [
    {
      name: 'msmtp',
      tools: { msmtp: 'msmtp' },
      async send(port, { extra = [], trustLocalCert = true } = {}) {
        const home = await freshDir('msmtp');
        const config = localize(guide.get('msmtp/msmtprc'), [
          ['smtp.example.com', 'localhost'],
          [/^port(\s+)587$/gm, `port$1${relay.submissionPort}`],
          [/^port(\s+)465$/gm, `port$1${relay.submissionsPort}`],
          ...(trustLocalCert ? [['tls_trust_file system', `tls_trust_file ${relay.stack.certPath}`] as const] : []),
          ...extra,
        ]);
        await writeFile(path.join(home, '.msmtprc'), config, { mode: 0o600 });
        await writeTestMessage(home);
        const run = await shell(guide.get(port === '587' ? 'msmtp/send' : 'msmtp/send-465'), home, { HOME: home });
        return { run, dir: home };
      },
      async checkSent(message, _run, dir) {
        // msmtp adds the Date and Message-ID the file lacks, then sends it as it is.
        const text = withoutTraceHeader(message.raw).toString();
        const added = /^Date: [^\r\n]+\r\nMessage-ID: <[^>\r\n]+>\r\n/.exec(text)?.[0];
        assert.ok(added, text);
        const file = await readFile(path.join(dir, 'mail.txt'), 'utf8');
        assert.equal(text.slice(added.length), file.replaceAll('\n', '\r\n'));
        const log = await readFile(path.join(dir, '.msmtp.log'), 'utf8');
        assert.match(log, new RegExp(`smtpstatus=250 smtpmsg='250 2\\.0\\.0 Ok: queued as ${message.id}'`));
      },
      wrongPassword: [[PASSWORD, WRONG_PASSWORD]],
      notOwned: [[/^from(\s+)john@example\.org$/gm, `from$1${NOT_OWNED}`]],
      refusals: {
        badLogin: { exit: 77, output: /authentication failed[\s\S]*535 5\.7\.8/ },
        notOwned: { exit: 65, output: /envelope from address boss@example\.org not accepted[\s\S]*553 5\.7\.1/ },
        tempFail: { exit: 69, output: /the server did not accept the mail[\s\S]*451 4\.4\.0/ },
        untrusted: { exit: 69, output: /TLS certificate verification failed/ },
      },
    },
    {
      name: 'curl',
      tools: { curl: 'curl' },
      async send(port, { extra = [], trustLocalCert = true } = {}) {
        const dir = await freshDir('curl');
        await writeTestMessage(dir);
        const script = localize(guide.get(`curl/${port}`), [
          ...hostAndPort(port),
          ...(trustLocalCert ? [[/^curl /gm, `curl --cacert '${relay.stack.certPath}' `] as const] : []),
          ...extra,
        ]);
        return { run: await shell(script, dir), dir };
      },
      async checkSent(message, _run, dir) {
        await assertSentAsIs(message, dir);
        // The URL path is the EHLO name, which the relay's Received header shows.
        assert.match(message.raw.toString('latin1'), /^Received: from client\.example\.org \(/);
      },
      wrongPassword: [[PASSWORD, WRONG_PASSWORD]],
      notOwned: [[`--mail-from ${LOGIN}`, `--mail-from ${NOT_OWNED}`]],
      refusals: {
        badLogin: { exit: 67, output: /Login denied/ },
        notOwned: { exit: 55, output: /MAIL failed: 553/ },
        tempFail: { exit: 8, output: /Weird server reply/ },
        untrusted: { exit: 60, output: /SSL certificate problem: self-signed certificate/ },
      },
    },
    {
      name: 'Python smtplib',
      tools: { python3: 'python3' },
      async send(port, { extra = [], trustLocalCert = true } = {}) {
        const dir = await freshDir('python');
        // The 465 snippet is the `with` block that replaces the 587 script's.
        const full = guide.get('python/587');
        const withBlock = full.indexOf('with smtplib.SMTP(');
        assert.ok(withBlock > 0, 'python/587 has no `with smtplib.SMTP(` block');
        const script = localize(port === '587' ? full : full.slice(0, withBlock) + guide.get('python/465'), [
          [`'smtp.example.com', ${port}`, `'localhost', ${listenerPort(port)}`],
          ...(trustLocalCert ? [['ssl.create_default_context()', `ssl.create_default_context(cafile=${JSON.stringify(relay.stack.certPath)})`] as const] : []),
          ...extra,
        ]);
        return { run: await runClient('python3', ['-'], { cwd: dir, input: script }), dir };
      },
      async checkSent(message) {
        const text = withoutTraceHeader(message.raw).toString();
        assert.match(text, /^Subject: Hello from Python\r$/m);
        assert.match(text, /\r\n\r\nHello from the submission relay\.\r\n$/);
      },
      wrongPassword: [[PASSWORD, WRONG_PASSWORD]],
      notOwned: [[`message['From'] = '${LOGIN}'`, `message['From'] = '${NOT_OWNED}'`]],
      refusals: {
        badLogin: { exit: 1, output: /smtplib\.SMTPAuthenticationError: \(535, b'5\.7\.8 / },
        notOwned: { exit: 1, output: /smtplib\.SMTPSenderRefused: \(553, b'5\.7\.1 / },
        tempFail: { exit: 1, output: /smtplib\.SMTPDataError: \(451, b'4\.4\.0 / },
        untrusted: { exit: 1, output: /ssl\.SSLCertVerificationError: .*certificate verify failed/ },
      },
    },
    {
      name: 'Nodemailer',
      tools: {},
      async send(port, { extra = [], trustLocalCert = true } = {}) {
        const dir = await freshDir('nodemailer');
        const script = localize(guide.get('nodemailer/587'), [
          // The 465 snippet is the transport that replaces the 587 script's.
          ...(port === '465' ? [[/const transport = nodemailer\.createTransport\(\{\n[\s\S]*?\n\}\);\n/g, guide.get('nodemailer/465')] as const] : []),
          ['smtp.example.com', 'localhost'],
          [`port: ${port},`, `port: ${listenerPort(port)},`],
          ...extra,
        ]);
        // Run from the project, where `nodemailer` resolves; the local note's NODE_EXTRA_CA_CERTS is the trust change.
        const env: Record<string, string> = trustLocalCert ? { NODE_EXTRA_CA_CERTS: relay.stack.certPath } : {};
        return { run: await runClient(process.execPath, ['--input-type=module'], { cwd: PROJECT_ROOT, input: script, env }), dir };
      },
      async checkSent(message, run) {
        assert.equal(run.stdout.trim(), `250 2.0.0 Ok: queued as ${message.id}`);
        const text = withoutTraceHeader(message.raw).toString();
        assert.match(text, /^Subject: Hello from Nodemailer\r$/m);
        assert.match(text, /Hello from the submission relay\./);
      },
      wrongPassword: [[PASSWORD, WRONG_PASSWORD]],
      notOwned: [[`from: '${LOGIN}'`, `from: '${NOT_OWNED}'`]],
      refusals: {
        badLogin: { exit: 1, output: /code: 'EAUTH'[\s\S]*responseCode: 535/ },
        notOwned: { exit: 1, output: /code: 'EENVELOPE'[\s\S]*responseCode: 553/ },
        tempFail: { exit: 1, output: /code: 'EMESSAGE'[\s\S]*responseCode: 451/ },
        untrusted: { exit: 1, output: /self-signed certificate/ },
      },
    },
    {
      name: 'swaks',
      tools: { swaks: 'swaks' },
      async send(port, { extra = [], trustLocalCert = true } = {}) {
        const dir = await freshDir('swaks');
        const script = localize(guide.get(`swaks/${port}`), [
          ...hostAndPort(port),
          ...(trustLocalCert ? [['--tls-verify', `--tls-verify --tls-ca-path '${relay.stack.certPath}'`] as const] : []),
          ...extra,
        ]);
        return { run: await shell(script, dir), dir };
      },
      async checkSent(message, run) {
        assert.match(run.stdout, new RegExp(`^<~  250 2\\.0\\.0 Ok: queued as ${message.id}$`, 'm'));
        assert.match(withoutTraceHeader(message.raw).toString(), /^Subject: test /m);
      },
      wrongPassword: [[`'${PASSWORD}'`, `'${WRONG_PASSWORD}'`]],
      notOwned: [[`--from ${LOGIN}`, `--from ${NOT_OWNED}`]],
      refusals: {
        badLogin: { exit: 28, output: /535 5\.7\.8/ },
        notOwned: { exit: 23, output: /553 5\.7\.1/ },
        tempFail: { exit: 26, output: /451 4\.4\.0/ },
        untrusted: { exit: 29, output: /certificate verify failed/ },
      },
    },
  ];

  test('the page holds exactly the snippets these tests run', () => {
    assert.deepEqual(guide.names().sort(), [...SNIPPETS].sort());
  });

  for (const client of clients) {
    const skip = requireTools(client.tools);
    for (const port of PORTS) {
      test(`${client.name} on ${port}: the guide's snippet gets the message to SES`, { skip, timeout: 30_000 }, async () => {
        const before = await outboxIds();
        const { run, dir } = await client.send(port);
        assert.equal(run.code, 0, describeRun(run));
        const sent = await newMessages(before, 1);
        assert.equal(sent.length, 1, describeRun(run));
        const [message] = sent as [OutboxMessage];
        assertEnvelope(message);
        assert.equal(listenerOf(message), listenerPort(port), `came in on the ${port} listener`);
        await client.checkSent(message, run, dir);
      });
    }

    test(`${client.name}: refusals look as the guide's table says, and nothing is sent`, { skip, timeout: 30_000 }, async () => {
      const before = await outboxIds();
      const expect = async (what: string, result: Promise<{ run: ClientRun }>, refusal: Refusal) => {
        const { run } = await result;
        assert.equal(run.code, refusal.exit, `${what}: ${describeRun(run)}`);
        assert.match(run.stdout + run.stderr, refusal.output, `${what}: ${describeRun(run)}`);
      };
      await expect('wrong password', client.send('587', { extra: client.wrongPassword }), client.refusals.badLogin);
      await expect('sender not owned', client.send('587', { extra: client.notOwned }), client.refusals.notOwned);
      relay.stack.ses.faults.arm('unavailable', 1);
      try {
        await expect('SES unavailable (451)', client.send('587'), client.refusals.tempFail);
      } finally {
        relay.stack.ses.faults.clear();
      }
      // The deployed snippet as it is, trusting only public CAs: the client must refuse the self-signed relay.
      await expect('certificate not trusted', client.send('587', { trustLocalCert: false }), client.refusals.untrusted);
      assert.deepEqual(await newMessages(before, 0), []);
    });
  }

  describe('Postfix as a smarthost client', { skip: requireTools({ postfix: 'postfix', postmap: 'postfix', postqueue: 'postfix' }) }, () => {
    /**
     * A throwaway Postfix configured from the guide: main.cf, for 465 its
     * override lines, the local note's lines, sasl_passwd, then the guide's
     * commands (chmod, postmap, postfix reload) against the running instance.
     */
    const configuredPostfix = async (port: Port) => {
      const postfix = await PostfixInstance.create(await freshDir(`postfix-${port}`));
      const changes: SnippetChange[] = [...hostAndPort(port), ['/etc/postfix/', `${postfix.configDir}/`]];
      await postfix.addMainCf(localize(guide.get('postfix/main.cf'), port === '587' ? changes : [['/etc/postfix/', `${postfix.configDir}/`]]));
      if (port === '465') await postfix.postconf(localize(guide.get('postfix/main.cf-465'), hostAndPort(port)));
      await postfix.postconf(localize(guide.get('postfix/local'), [['/path/to/.relay/tls/cert.pem', relay.stack.certPath]]));
      await postfix.writeConfigFile('sasl_passwd', localize(guide.get(port === '587' ? 'postfix/sasl_passwd' : 'postfix/sasl_passwd-465'), hostAndPort(port)));
      return postfix;
    };
    const startConfigured = async (postfix: PostfixInstance) => {
      await postfix.start();
      const commands = await postfix.shell(localize(guide.get('postfix/commands'), [['/etc/postfix/', `${postfix.configDir}/`]]));
      assert.equal(commands.code, 0, describeRun(commands));
    };
    const send = async (postfix: PostfixInstance) => {
      await writeTestMessage(postfix.root);
      const run = await postfix.shell(guide.get('postfix/send'));
      assert.equal(run.code, 0, describeRun(run));
    };
    /** Stops the instance and checks it is gone and left no listener behind. */
    const stopAndCheck = async (postfix: PostfixInstance, port25Before: boolean) => {
      await postfix.stop();
      assert.equal(await postfix.running(), false, 'the instance is stopped');
      assert.equal(await listening(25), port25Before, 'port 25 is as it was before the test');
    };

    for (const port of PORTS) {
      test(`Postfix relaying to ${port}${port === '465' ? ' (smtp_tls_wrappermode)' : ''}: verified TLS, SASL, the message reaches SES`, { timeout: 45_000 }, async () => {
        const port25Before = await listening(25);
        const before = await outboxIds();
        const postfix = await configuredPostfix(port);
        try {
          await startConfigured(postfix);
          await send(postfix);
          const sentLine = await postfix.waitForLog(/status=(sent|deferred|bounced)/);
          assert.match(sentLine, /status=sent \(250 2\.0\.0 Ok: queued as \S+\)/, await postfix.log());
          const log = await postfix.log();
          // `secure` checked the chain against the local certificate and its name `localhost`.
          assert.match(log, new RegExp(`Verified TLS connection established to localhost\\[127\\.0\\.0\\.1\\]:${listenerPort(port)}`));
          const [message, ...more] = await newMessages(before, 1, 10_000);
          assert.ok(message, log);
          assert.deepEqual(more, []);
          assert.match(sentLine, new RegExp(`queued as ${message.id}\\)`));
          assertEnvelope(message);
          assert.equal(listenerOf(message), listenerPort(port));
          // Postfix adds its own Received, Message-Id and Date; the test message's headers and body are intact.
          const text = withoutTraceHeader(message.raw).toString();
          const file = (await readFile(path.join(postfix.root, 'mail.txt'), 'utf8')).replaceAll('\n', '\r\n');
          const [fileHeader = '', fileBody = ''] = file.split('\r\n\r\n');
          for (const line of fileHeader.split('\r\n')) assert.ok(text.includes(`\r\n${line}\r\n`), `header ${line} in\n${text}`);
          assert.ok(text.endsWith(`\r\n\r\n${fileBody}`), text);
        } finally {
          await stopAndCheck(postfix, port25Before);
        }
      });
    }

    test('Postfix keeps a message the relay answers 451, and delivers it on postqueue -f', { timeout: 45_000 }, async () => {
      const port25Before = await listening(25);
      const before = await outboxIds();
      const postfix = await configuredPostfix('587');
      try {
        await startConfigured(postfix);
        relay.stack.ses.faults.arm('unavailable', 1);
        try {
          await send(postfix);
          const deferred = await postfix.waitForLog(/status=(sent|deferred|bounced)/);
          assert.match(deferred, /status=deferred \(host localhost\[127\.0\.0\.1\] said: 451 4\.4\.0 /);
        } finally {
          relay.stack.ses.faults.clear();
        }
        assert.deepEqual(await newMessages(before, 0), []);
        const flush = await postfix.shell('postqueue -f');
        assert.equal(flush.code, 0, describeRun(flush));
        await postfix.waitForLog(/status=sent \(250 2\.0\.0 Ok: queued as /);
        const [message, ...more] = await newMessages(before, 1, 10_000);
        assert.ok(message, await postfix.log());
        assert.deepEqual(more, []);
        assertEnvelope(message);
      } finally {
        await stopAndCheck(postfix, port25Before);
      }
    });
  });
});

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
