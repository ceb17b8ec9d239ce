import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { RelayMetrics } from '../../relay/relay-metrics.ts';
import { connectAuthenticated, connectSecure, startTestRelay, type TestRelay } from '../support/relay-fixture.ts';
import { until } from '../support/until.ts';

const run = promisify(execFile);
const USER = 'renew@example.org';
const PASSWORD = 'renewal password one';

/** A fresh self-signed P-256 certificate for localhost, valid `days`. */
async function makeCertificate(dir: string, name: string, days: number): Promise<{ certPath: string; keyPath: string; fingerprint: string }> {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}.key`);
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', String(days), '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  await chmod(keyPath, 0o600);
  return { certPath, keyPath, fingerprint: new X509Certificate(await readFile(certPath)).fingerprint256 };
}

/** Replaces the running relay's files the way an operator or certbot's deploy hook would: write aside, then rename over. */
async function install(relay: TestRelay, certificate: { certPath: string; keyPath: string }): Promise<void> {
  const tlsDir = path.dirname(relay.stack.certPath);
  await writeFile(path.join(tlsDir, 'key.pem.new'), await readFile(certificate.keyPath), { mode: 0o600 });
  await writeFile(path.join(tlsDir, 'cert.pem.new'), await readFile(certificate.certPath));
  await rename(path.join(tlsDir, 'key.pem.new'), path.join(tlsDir, 'key.pem'));
  await rename(path.join(tlsDir, 'cert.pem.new'), path.join(tlsDir, 'cert.pem'));
}

describe('certificate renewal reaches a running relay without a restart', () => {
  let relay: TestRelay;
  let work: string;
  const emf: string[] = [];
  const metrics = new RelayMetrics({ namespace: 'SubmissionRelay', stage: 'test', write: (line) => emf.push(line), flushIntervalMs: 3_600_000 });

  before(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'relay-renewal-'));
    relay = await startTestRelay({
      env: { CERT_RELOAD_SECONDS: '1' },
      metrics,
    });
    await relay.addUser(USER, PASSWORD);
  });
  after(async () => {
    await relay.close();
    await rm(work, { recursive: true, force: true });
  });

  test('new clients see the new certificate on both listeners, a session opened before keeps going and sends', async () => {
    const original = new X509Certificate(await readFile(relay.stack.certPath)).fingerprint256;
    const before465 = await connectSecure(relay, 'submissions');
    assert.equal(before465.peerFingerprint, original);
    const open = await connectAuthenticated(relay, USER, PASSWORD);
    assert.equal(open.peerFingerprint, original);

    const renewed = await makeCertificate(work, 'renewed', 90);
    assert.notEqual(renewed.fingerprint, original);
    await install(relay, renewed);
    await until(() => relay.logLines().some((line) => line.event === 'certificate-reloaded'), 'the reload');

    const reloaded = relay.logLines().find((line) => line.event === 'certificate-reloaded')!;
    assert.equal(reloaded.fingerprint, renewed.fingerprint);
    assert.equal(reloaded.previousFingerprint, original);

    for (const port of ['submission', 'submissions'] as const) {
      const fresh = await connectSecure(relay, port);
      assert.equal(fresh.peerFingerprint, renewed.fingerprint, `new client on ${port}`);
      assert.equal((await fresh.command('QUIT')).code, 221);
    }

    // The session from before the renewal is still open, in its TLS with the old certificate, and can send.
    assert.equal(open.closed, false);
    assert.equal((await open.command(`MAIL FROM:<${USER}>`)).code, 250);
    assert.equal((await open.command('RCPT TO:<someone@example.net>')).code, 250);
    assert.equal((await open.command('DATA')).code, 354);
    const sent = await open.command(`From: ${USER}\r\nTo: someone@example.net\r\nSubject: across the renewal\r\n\r\nstill here\r\n.`);
    assert.equal(sent.code, 250, sent.text);
    assert.match(sent.text, /2\.0\.0 Ok: queued as/);
    assert.equal((await open.command('QUIT')).code, 221);
    assert.equal((await before465.command('NOOP')).code, 250);
    assert.equal((await before465.command('QUIT')).code, 221);

    const outbox = await relay.outbox();
    assert.ok(outbox.some((message) => message.raw.toString().includes('Subject: across the renewal')));
  });

  test('a key that does not fit the certificate is refused and logged; the certificate in use stays', async () => {
    const inUse = new X509Certificate(await readFile(relay.stack.certPath)).fingerprint256;
    const a = await makeCertificate(work, 'mismatch-a', 30);
    const b = await makeCertificate(work, 'mismatch-b', 30);
    await install(relay, { certPath: a.certPath, keyPath: b.keyPath });
    await until(() => relay.logLines().some((line) => line.event === 'certificate-refused'), 'the refusal');
    const refused = relay.logLines().find((line) => line.event === 'certificate-refused')!;
    assert.match(String(refused.err), /does not fit the certificate/);
    const key = await readFile(b.keyPath, 'utf8');
    const keyLines = key.split('\n').filter((line) => line && !line.startsWith('-----'));
    assert.ok(!keyLines.some((line) => relay.logText().includes(line)), 'no key material in the log');

    const fresh = await connectSecure(relay, 'submissions');
    assert.equal(fresh.peerFingerprint, inUse);
    assert.equal((await fresh.command('QUIT')).code, 221);
  });

  test('the CertificateDaysLeft gauge follows the certificate in use', async () => {
    const shortLived = await makeCertificate(work, 'short', 10);
    await install(relay, shortLived);
    await until(
      () => relay.logLines().some((line) => line.event === 'certificate-reloaded' && line.fingerprint === shortLived.fingerprint),
      'the short-lived certificate',
    );
    emf.length = 0;
    // The gauge is sampled at each flush, as every minute in a task.
    metrics.flush();
    const document = JSON.parse(emf.find((line) => line.includes('CertificateDaysLeft'))!) as Record<string, any>;
    assert.ok(document.CertificateDaysLeft === 9 || document.CertificateDaysLeft === 10, String(document.CertificateDaysLeft));
    assert.deepEqual(document._aws.CloudWatchMetrics[0].Dimensions, [['Stage']]);
  });
});
