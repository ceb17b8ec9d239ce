import { execFile } from 'node:child_process';
import { access, chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { assertPrivateKeyFile } from '../tls-credentials.ts';

const run = promisify(execFile);

/**
 * The local stack's TLS certificate: made once with openssl (P-256, a year,
 * SAN for localhost and 127.0.0.1) in `<dataDir>/tls/`, then reused so that a
 * client that pinned it keeps working across restarts. The key is made
 * readable by its owner only.
 */
export async function ensureSelfSignedCertificate(dataDir: string, hostname: string): Promise<{ cert: Buffer; key: Buffer; certPath: string; keyPath: string }> {
  const dir = path.join(dataDir, 'tls');
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  const exists = await Promise.all([access(certPath), access(keyPath)]).then(() => true, () => false);
  if (!exists) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const names = [...new Set([hostname, 'localhost'])].map((name) => `DNS:${name}`).join(',');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '365', '-subj', `/CN=${hostname}`,
      '-addext', `subjectAltName=${names},IP:127.0.0.1`,
    ]).catch((error: unknown) => {
      throw new Error(`could not make a self-signed certificate with openssl (is it installed?): ${String(error)}`);
    });
    await chmod(keyPath, 0o600);
  }
  await assertPrivateKeyFile(keyPath);
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  return { cert, key, certPath, keyPath };
}
