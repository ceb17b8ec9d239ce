import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ACMClient } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { exportCertificateToSecret } from '../../lambda/certificate/certificate-export.ts';
import { CertificateReload } from '../../relay/certificate-reload.ts';
import { createRelayLog } from '../../relay/relay-log.ts';
import { inspectCredentials, secretCertificateSource } from '../../relay/tls-credentials.ts';

const run = promisify(execFile);
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-000000000001';
const SECRET_ID = 'submission-relay/test/tls-certificate';

interface Issued {
  readonly certificate: string;
  readonly chain: string;
  readonly key: string;
}

async function issue(dir: string, name: string): Promise<Issued> {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '395', '-subj', '/CN=smtp.example.com', '-addext', 'subjectAltName=DNS:smtp.example.com']);
  const chainPath = path.join(dir, `${name}-ca.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, `${name}-ca.key`), '-out', chainPath, '-days', '395', '-subj', '/CN=Test Intermediate']);
  return { certificate: await readFile(certPath, 'utf8'), chain: await readFile(chainPath, 'utf8'), key: await readFile(keyPath, 'utf8') };
}

/**
 * ACM's ExportCertificate and Secrets Manager's GetSecretValue/PutSecretValue
 * (both JSON 1.1, dispatched on X-Amz-Target) as AWS answers them: ACM hands
 * the key out encrypted with the caller's passphrase, as PKCS#8.
 */
async function startAwsStandIn(): Promise<{
  url: string;
  server: Server;
  acm: { current: Issued; passphrases: string[] };
  secrets: Map<string, string>;
  puts: () => number;
}> {
  const acm = { current: undefined as unknown as Issued, passphrases: [] as string[] };
  const secrets = new Map<string, string>([[SECRET_ID, JSON.stringify({ certificate: '', privateKey: '' })]]);
  let puts = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const input = JSON.parse(body || '{}') as Record<string, string>;
      const reply = (status: number, value: object, error?: string) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...(error ? { 'x-amzn-ErrorType': error } : {}) });
        response.end(JSON.stringify(value));
      };
      switch (request.headers['x-amz-target']) {
        case 'CertificateManager.ExportCertificate': {
          if (input.CertificateArn !== CERTIFICATE_ARN) return reply(400, { message: 'no such certificate' }, 'ResourceNotFoundException');
          const passphrase = Buffer.from(input.Passphrase!, 'base64').toString('utf8');
          acm.passphrases.push(passphrase);
          const encrypted = createPrivateKey(acm.current.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }).toString();
          return reply(200, { Certificate: acm.current.certificate, CertificateChain: acm.current.chain, PrivateKey: encrypted });
        }
        case 'secretsmanager.GetSecretValue':
          return reply(200, { ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${input.SecretId}`, Name: input.SecretId, SecretString: secrets.get(input.SecretId!) });
        case 'secretsmanager.PutSecretValue':
          puts += 1;
          secrets.set(input.SecretId!, input.SecretString!);
          return reply(200, { ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${input.SecretId}`, Name: input.SecretId, VersionId: `v${puts}` });
        default:
          return reply(400, { message: `not here: ${String(request.headers['x-amz-target'])}` }, 'UnknownOperationException');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, acm, secrets, puts: () => puts };
}

describe('certificate export: ACM\'s renewed certificate into the relay\'s secret, and the relay reads it', () => {
  let dir: string;
  let aws: Awaited<ReturnType<typeof startAwsStandIn>>;
  let clients: { acm: ACMClient; secrets: SecretsManagerClient };
  let first: Issued;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'relay-export-'));
    aws = await startAwsStandIn();
    const target = { region: 'eu-west-1', endpoint: aws.url, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    clients = { acm: new ACMClient(target), secrets: new SecretsManagerClient(target) };
    first = await issue(dir, 'first');
    aws.acm.current = first;
  });
  after(async () => {
    clients.acm.destroy();
    clients.secrets.destroy();
    await new Promise<void>((resolve) => aws.server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  test('before the first export the relay refuses to start: the secret is empty', async () => {
    const source = secretCertificateSource(clients.secrets, SECRET_ID);
    assert.equal(await source.read(), undefined);
    await assert.rejects(CertificateReload.load({ source, log: createRelayLog('silent'), intervalMs: 60_000 }), /no TLS certificate in secret submission-relay\/test\/tls-certificate yet/);
  });

  test('the first export writes leaf + chain and the decrypted key; the relay\'s reader accepts the pair', async () => {
    const outcome = await exportCertificateToSecret(clients, CERTIFICATE_ARN, SECRET_ID);
    const fingerprint = new X509Certificate(first.certificate).fingerprint256;
    assert.deepEqual(outcome, { outcome: 'written', fingerprint, notAfter: new Date(new X509Certificate(first.certificate).validTo).toISOString() });
    const stored = JSON.parse(aws.secrets.get(SECRET_ID)!) as { certificate: string; privateKey: string };
    assert.equal(stored.certificate, `${first.certificate.trim()}\n${first.chain.trim()}\n`);
    assert.match(stored.privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.doesNotMatch(stored.privateKey, /ENCRYPTED/);
    assert.ok(new X509Certificate(first.certificate).checkPrivateKey(createPrivateKey(stored.privateKey)));

    const credentials = await secretCertificateSource(clients.secrets, SECRET_ID).read();
    assert.equal(inspectCredentials(credentials!).fingerprint, fingerprint);
    // The passphrase is random, long, and never reused.
    assert.equal(aws.acm.passphrases.length, 1);
    assert.ok(aws.acm.passphrases[0]!.length >= 40);
    assert.ok(!aws.secrets.get(SECRET_ID)!.includes(aws.acm.passphrases[0]!));
  });

  test('a run with nothing renewed writes nothing', async () => {
    const puts = aws.puts();
    const outcome = await exportCertificateToSecret(clients, CERTIFICATE_ARN, SECRET_ID);
    assert.equal(outcome.outcome, 'unchanged');
    assert.equal(aws.puts(), puts);
    assert.notEqual(aws.acm.passphrases[1], aws.acm.passphrases[0], 'a fresh passphrase per export');
  });

  test('after ACM renewed, the new certificate is written and its predecessor named', async () => {
    const renewed = await issue(dir, 'renewed');
    aws.acm.current = renewed;
    const outcome = await exportCertificateToSecret(clients, CERTIFICATE_ARN, SECRET_ID);
    assert.equal(outcome.outcome, 'written');
    assert.equal(outcome.fingerprint, new X509Certificate(renewed.certificate).fingerprint256);
    assert.equal(outcome.outcome === 'written' && outcome.previousFingerprint, new X509Certificate(first.certificate).fingerprint256);
    const credentials = await secretCertificateSource(clients.secrets, SECRET_ID).read();
    assert.equal(inspectCredentials(credentials!).fingerprint, outcome.fingerprint);
  });

  test('a secret that is not the relay\'s JSON is an error naming the secret, not the content', async () => {
    aws.secrets.set('broken', 'certificate=-----BEGIN');
    await assert.rejects(secretCertificateSource(clients.secrets, 'broken').read(), (error: Error) => error.message === 'secret broken is not JSON {"certificate", "privateKey"}');
  });
});
