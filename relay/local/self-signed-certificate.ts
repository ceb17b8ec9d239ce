import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from 'selfsigned';
import { ensurePrivateDir } from '../private-path.ts';
import { assertPrivateKeyFile } from '../tls-credentials.ts';

const VALID_DAYS = 365;

/**
 * The local stack's TLS certificate: made once (P-256, a year, SAN for the
 * host name, localhost and 127.0.0.1) in `<dataDir>/tls/`, then reused so that
 * a client that pinned it keeps working across restarts. Made in-process, so
 * that `npm start` needs nothing but Node; the key is written readable by its
 * owner only, in a folder only its owner may enter.
 */
export async function ensureSelfSignedCertificate(dataDir: string, hostname: string): Promise<{ cert: Buffer; key: Buffer; certPath: string; keyPath: string }> {
  const dir = path.join(dataDir, 'tls');
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  await ensurePrivateDir(dir, 'TLS folder');
  const exists = await Promise.all([access(certPath), access(keyPath)]).then(() => true, () => false);
  if (!exists) {
    const names = [...new Set([hostname, 'localhost'])];
    const notBeforeDate = new Date();
    const pems = await generate([{ name: 'commonName', value: hostname }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate: new Date(notBeforeDate.getTime() + VALID_DAYS * 86_400_000),
      extensions: [
        // As `openssl req -x509` makes it: its own CA, which every client accepts as a trust anchor.
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'subjectAltName', altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7 as const, ip: '127.0.0.1' }] },
      ],
    });
    await writeFile(keyPath, pems.private, { mode: 0o600, flag: 'wx' });
    await writeFile(certPath, pems.cert, { mode: 0o644 });
  }
  await assertPrivateKeyFile(keyPath);
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  return { cert, key, certPath, keyPath };
}
