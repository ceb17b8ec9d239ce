import { readFile } from 'node:fs/promises';
import { assertPrivate } from './private-path.ts';

export interface TlsCredentials {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/**
 * The relay's certificate chain and key. In ECS they arrive as environment
 * variables injected from Secrets Manager (TLS_CERT_PEM, TLS_KEY_PEM); elsewhere
 * as files (TLS_CERT_FILE, TLS_KEY_FILE). A key file that others can read is
 * refused, as OpenSSH refuses such a key: it has been exposed already.
 */
export async function loadTlsCredentials(env: NodeJS.ProcessEnv): Promise<TlsCredentials> {
  if (env.TLS_CERT_PEM && env.TLS_KEY_PEM) return { cert: env.TLS_CERT_PEM, key: env.TLS_KEY_PEM };
  if (env.TLS_CERT_FILE && env.TLS_KEY_FILE) {
    await assertPrivateKeyFile(env.TLS_KEY_FILE);
    const [cert, key] = await Promise.all([readFile(env.TLS_CERT_FILE), readFile(env.TLS_KEY_FILE)]);
    return { cert, key };
  }
  throw new Error('no TLS certificate: set TLS_CERT_PEM and TLS_KEY_PEM, or TLS_CERT_FILE and TLS_KEY_FILE');
}

export function assertPrivateKeyFile(keyPath: string): Promise<void> {
  return assertPrivate(keyPath, 'TLS key');
}
