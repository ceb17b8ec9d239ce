import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { requireTool } from '../support/required-tools.ts';
import { relayctl, tempDataDir, withLocalStore } from './relayctl-process.ts';

const run = promisify(execFile);

interface DoctorJson {
  readonly ok: boolean;
  readonly checks: ReadonlyArray<{ readonly check: string; readonly status: 'ok' | 'warn' | 'fail'; readonly message: string; readonly fix?: string }>;
}

/** A loopback port nothing listens on (taken from the OS, then given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function closedPorts(): Promise<Record<string, string>> {
  return { SUBMISSION_PORT: String(await closedPort()), SUBMISSIONS_PORT: String(await closedPort()) };
}

const OPENSSL = requireTool('openssl', 'openssl');

/** A P-256 certificate and key made by openssl in `dir`, valid for `days` from now. */
async function certificate(dir: string, days: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', String(days), '-subj', '/CN=localhost',
  ]);
  await chmod(path.join(dir, 'key.pem'), 0o600);
}

/** A certificate that ended in 2020: `openssl req` cannot backdate, a throwaway `openssl ca` can. */
async function expiredCertificate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  await writeFile(file('index.txt'), '');
  await writeFile(file('serial'), '01\n');
  await writeFile(
    file('ca.cnf'),
    ['[ca]', 'default_ca = expired', '[expired]', `database = ${file('index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${file('serial')}`,
      'default_md = sha256', 'policy = any', '[any]', 'commonName = supplied', ''].join('\n'),
  );
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file('key.pem'), '-out', file('req.csr'), '-subj', '/CN=localhost']);
  await run('openssl', ['ca', '-batch', '-config', file('ca.cnf'), '-selfsign', '-keyfile', file('key.pem'), '-in', file('req.csr'), '-out', file('cert.pem'), '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-notext']);
  await chmod(file('key.pem'), 0o600);
}

function statuses(report: DoctorJson): Record<string, string> {
  return Object.fromEntries(report.checks.map((check) => [check.check, check.status]));
}

describe('relayctl doctor on a broken local setup', { concurrency: true }, () => {
  test('no data dir: every check fails with what to do, and nothing is created', async (t) => {
    const parent = await tempDataDir(t);
    const dataDir = path.join(parent, 'never-started');
    const doctor = await relayctl(['doctor'], { dataDir, env: await closedPorts() });
    assert.equal(doctor.code, 5);
    assert.equal(doctor.stderr, 'relayctl: 5 checks failed\n');
    const lines = doctor.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 6, 'one line per check and a summary');
    assert.match(lines[0]!, /^fail  data dir: .*never-started does not exist -- fix: run npm start once \(it creates it\), or point RELAY_DATA_DIR at the right directory$/);
    assert.match(lines[1]!, /^fail  store: not checked: no usable data dir -- fix: /);
    assert.match(lines[2]!, /^fail  tls certificate: no certificate at .*never-started\/tls\/cert\.pem -- fix: npm start makes a self-signed one/);
    assert.match(lines[3]!, /^fail  submission port: nothing listens on 127\.0\.0\.1:\d+ -- fix: start the relay: npm start/);
    assert.match(lines[4]!, /^fail  submissions port: nothing listens on 127\.0\.0\.1:\d+ -- fix: start the relay: npm start/);
    assert.equal(lines[5], '5 failed, 0 warnings');
    await assert.rejects(access(dataDir), 'doctor only looks');
  });

  test('an empty store, a key others can read, a certificate near its end, no relay running', { skip: OPENSSL }, async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async () => undefined);
    await certificate(path.join(dataDir, 'tls'), 10);
    await chmod(path.join(dataDir, 'tls', 'key.pem'), 0o644);
    const doctor = await relayctl(['--json', 'doctor'], { dataDir, env: await closedPorts() });
    assert.equal(doctor.code, 5);
    const report = JSON.parse(doctor.stdout) as DoctorJson;
    assert.equal(report.ok, false);
    assert.deepEqual(statuses(report), {
      'data dir': 'ok',
      store: 'warn',
      'tls certificate': 'warn',
      'tls key': 'fail',
      'submission port': 'fail',
      'submissions port': 'fail',
    });
    const byName = new Map(report.checks.map((check) => [check.check, check]));
    assert.match(byName.get('store')!.message, /local store in .* is reachable, table relay-users has no users/);
    assert.equal(byName.get('store')!.fix, 'add one: relayctl user add you@example.org');
    assert.match(byName.get('tls certificate')!.message, /^expires on \S+, in (9|10) days$/);
    assert.match(byName.get('tls key')!.message, /is readable by group or others \(mode 644\)/);
    assert.equal(byName.get('tls key')!.fix, `chmod 600 ${path.join(dataDir, 'tls', 'key.pem')}`);
  });

  test('an expired certificate, and a key that belongs to another certificate', { skip: OPENSSL }, async (t) => {
    const dataDir = await tempDataDir(t);
    await withLocalStore(dataDir, async () => undefined);
    await expiredCertificate(path.join(dataDir, 'tls'));
    const expired = JSON.parse((await relayctl(['--json', 'doctor'], { dataDir, env: await closedPorts() })).stdout) as DoctorJson;
    const expiry = expired.checks.find((check) => check.check === 'tls certificate')!;
    assert.equal(expiry.status, 'fail');
    assert.equal(expiry.message, 'expired on 2020-02-01T00:00:00.000Z');
    assert.equal(statuses(expired)['tls key'], 'ok');

    const other = path.join(dataDir, 'other');
    await certificate(other, 365);
    const mismatched = await relayctl(['doctor'], {
      dataDir,
      env: { ...(await closedPorts()), TLS_CERT_FILE: path.join(other, 'cert.pem'), TLS_KEY_FILE: path.join(dataDir, 'tls', 'key.pem') },
    });
    assert.equal(mismatched.code, 5);
    assert.match(mismatched.stdout, /^ok    tls certificate: valid until \S+ \(36\d days\)$/m);
    assert.match(mismatched.stdout, /^fail  tls key: .*tls\/key\.pem is not the key of .*other\/cert\.pem -- fix: /m);
  });

  test('something else on the relay port is told apart from the relay', async (t) => {
    const dataDir = await tempDataDir(t);
    const impostor = createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', () => resolve()));
    t.after(() => new Promise<void>((resolve) => impostor.close(() => resolve())));
    const port = (impostor.address() as { port: number }).port;
    const doctor = await relayctl(['doctor'], { dataDir, env: { SUBMISSION_PORT: String(port), SUBMISSIONS_PORT: String(await closedPort()) } });
    assert.match(doctor.stdout, new RegExp(`^fail  submission port: 127\\.0\\.0\\.1:${port} answers, but not as an SMTP server: "HTTP/1\\.1 400 Bad Request" -- fix: another program holds the port`, 'm'));
  });
});
