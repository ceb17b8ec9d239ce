import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import nodemailer, { type Transporter } from 'nodemailer';
import { SmtpDialogue, plainToken } from './smtp-dialogue.ts';
import { hashPassword } from '../../lambda/password-hash.ts';
import { canonicalGrant } from '../../lambda/mail-address.ts';
import { createPolicyHandler } from '../../lambda/policy-handler.ts';
import { createSesClient } from '../../relay/aws-clients.ts';
import { DirectPolicyClient } from '../../relay/direct-policy-client.ts';
import { LOCAL_COUNTERS_TABLE, localDynamoDbClient } from '../../relay/local/embedded-dynamodb.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../relay/local/local-stack.ts';
import { parseRelayEnv, relaySettingsFrom, sendingQuotaOptionsFrom } from '../../relay/relay-config.ts';
import { createRelayLog } from '../../relay/relay-log.ts';
import { startRelay, type RunningRelay } from '../../relay/relay-server.ts';
import { SendingQuota } from '../../relay/sending-quota.ts';
import { SesSender } from '../../relay/ses-sender.ts';

export interface OutboxMessage {
  readonly id: string;
  readonly raw: Buffer;
  readonly meta: { from?: string; destinations: string[]; [key: string]: unknown };
}

export interface TestRelay {
  readonly stack: LocalStack;
  readonly dataDir: string;
  /** Every log line the relay wrote, parsed. */
  readonly logLines: () => Array<Record<string, unknown>>;
  /** Every byte the relay logged, as text, for searching secrets. */
  readonly logText: () => string;
  readonly submissionPort: number;
  readonly submissionsPort: number;
  addUser(login: string, password: string, grants?: readonly string[]): Promise<void>;
  /** A nodemailer transport to this relay; `implicitTls` picks port 465's twin. */
  transport(auth: { user: string; pass: string } | undefined, options?: { implicitTls?: boolean; pool?: boolean }): Transporter;
  outbox(): Promise<OutboxMessage[]>;
  close(): Promise<void>;
}

/**
 * Starts the whole local stack on free loopback ports in a fresh data dir, the
 * way `npm start` does, with the relay's log captured for the test.
 */
export async function startTestRelay(
  options: {
    env?: Record<string, string>;
    policyTransport?: LocalStackOptions['policyTransport'];
    metrics?: LocalStackOptions['metrics'];
    /** Sees every call that reaches the policy beneath the relay's permit cache. */
    wrapPolicy?: LocalStackOptions['wrapPolicy'];
    /** Keep users on disk in the data dir, as `npm start` does, so `relayctl` finds the running store. */
    usersOnDisk?: boolean;
  } = {},
): Promise<TestRelay> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'relay-test-'));
  const chunks: string[] = [];
  const capture = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const stack = await startLocalStack({
    dataDir,
    dynamoInMemory: !options.usersOnDisk,
    policyTransport: options.policyTransport ?? 'direct',
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.wrapPolicy ? { wrapPolicy: options.wrapPolicy } : {}),
    log: createRelayLog('debug', capture),
    env: {
      RELAY_LISTEN: '127.0.0.1',
      SUBMISSION_PORT: '0',
      SUBMISSIONS_PORT: '0',
      RELAY_HOSTNAME: 'relay.test',
      // Every test client comes from 127.0.0.1: the abuse limits would make
      // unrelated tests wait for each other's failures. The abuse-limit tests
      // set them back.
      AUTH_PENALTY_BASE_MS: '0',
      AUTH_FAILURE_FLOOR_MS: '0',
      AUTH_REFUSE_ADDRESS_AFTER: '100000',
      AUTH_REFUSE_LOGIN_AFTER: '100000',
      MAX_CONNECTIONS_PER_CLIENT: '100000',
      ...options.env,
    },
  });
  const ca = await readFile(stack.certPath);
  const logText = () => chunks.join('');

  return {
    stack,
    dataDir,
    logText,
    logLines: () =>
      logText()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    submissionPort: stack.relay.submissionPort,
    submissionsPort: stack.relay.submissionsPort,
    async addUser(login, password, grants = []) {
      await stack.store.createUser(login, await hashPassword(password));
      for (const grant of grants) {
        await stack.store.putSender({ grant: canonicalGrant(grant) ?? grant, owner: login, createdAt: new Date().toISOString() });
      }
    },
    transport(auth, transportOptions = {}) {
      return nodemailer.createTransport({
        host: '127.0.0.1',
        port: transportOptions.implicitTls ? stack.relay.submissionsPort : stack.relay.submissionPort,
        secure: transportOptions.implicitTls ?? false,
        requireTLS: !transportOptions.implicitTls,
        ...(transportOptions.pool ? { pool: true } : {}),
        name: 'client.test',
        tls: { ca, servername: 'localhost' },
        ...(auth ? { auth } : {}),
      });
    },
    async outbox() {
      const names = (await readdir(stack.outboxDir)).filter((name) => name.endsWith('.json')).sort();
      return Promise.all(
        names.map(async (name) => {
          const id = name.slice(0, -'.json'.length);
          const [raw, meta] = await Promise.all([
            readFile(path.join(stack.outboxDir, `${id}.eml`)),
            readFile(path.join(stack.outboxDir, name), 'utf8'),
          ]);
          return { id, raw, meta: JSON.parse(meta) as OutboxMessage['meta'] };
        }),
      );
    },
    async close() {
      await stack.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A second task beside `relay`: its own relay state (permit cache, quota
 * leases), the same tables and SES stand-in, the same certificate. `env` are
 * its settings (environment variable names).
 */
export async function startTwinRelay(relay: TestRelay, env: Record<string, string> = {}): Promise<RunningRelay> {
  const settings = parseRelayEnv({ RELAY_LISTEN: '127.0.0.1', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', ...env }, {});
  const tls = { cert: await readFile(relay.stack.certPath), key: await readFile(path.join(relay.dataDir, 'tls', 'key.pem')) };
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  return startRelay(relaySettingsFrom(settings, tls), {
    policy: new DirectPolicyClient(createPolicyHandler(relay.stack.store)),
    ses: new SesSender(createSesClient({ region: 'us-east-1', endpoint: relay.stack.ses.url, credentials }, 5_000), { throttleRetries: 0, throttleBackoffMs: 0 }),
    log: createRelayLog('silent'),
    quota: new SendingQuota(localDynamoDbClient(relay.stack.dynamoEndpoint), LOCAL_COUNTERS_TABLE, sendingQuotaOptionsFrom(settings)),
  });
}

/** The message as the client sent it: the relay's Received header taken off the top. */
export function withoutTraceHeader(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  if (!text.startsWith('Received: ')) throw new Error('message does not start with the relay trace header');
  const match = /^Received: [^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*/.exec(text);
  return raw.subarray(match ? match[0].length : 0);
}

/** Where a relay listens: a TestRelay, or a RunningRelay such as a twin. */
type RelayPorts = Pick<RunningRelay, 'submissionPort' | 'submissionsPort'>;

/** A dialogue that is inside TLS and greeted, on either listener. */
export async function connectSecure(relay: RelayPorts, port: 'submission' | 'submissions' = 'submission'): Promise<SmtpDialogue> {
  if (port === 'submissions') {
    const smtp = await SmtpDialogue.connect(relay.submissionsPort, { implicitTls: true });
    await smtp.read();
    return smtp;
  }
  const smtp = await SmtpDialogue.connect(relay.submissionPort);
  await smtp.read();
  await smtp.command('EHLO client.test');
  const reply = await smtp.startTls();
  if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.text}`);
  return smtp;
}

/** Inside TLS, after EHLO and a successful AUTH PLAIN. */
export async function connectAuthenticated(relay: RelayPorts, login: string, password: string, port: 'submission' | 'submissions' = 'submission'): Promise<SmtpDialogue> {
  const smtp = await connectSecure(relay, port);
  await smtp.command('EHLO client.test');
  const auth = await smtp.command(`AUTH PLAIN ${plainToken(login, password)}`);
  if (auth.code !== 235) throw new Error(`AUTH failed: ${auth.text}`);
  return smtp;
}
