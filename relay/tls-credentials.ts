import { X509Certificate, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { assertPrivate } from './private-path.ts';

export interface TlsCredentials {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/**
 * Where the relay's certificate chain and key come from, read again on every
 * poll so that a renewed certificate reaches a running relay. `read()` answers
 * undefined while the source holds no certificate yet (an empty secret).
 */
export interface CertificateSource {
  /** For the log: which secret or files, never their content. */
  readonly description: string;
  read(): Promise<TlsCredentials | undefined>;
}

/**
 * The source the environment names. In ECS: the Secrets Manager secret
 * TLS_CERT_SECRET_ID, JSON `{"certificate": PEM chain, "privateKey": PEM key}`,
 * read with the task role. Elsewhere: files (TLS_CERT_FILE, TLS_KEY_FILE). Or,
 * for a one-off run, the PEMs themselves (TLS_CERT_PEM, TLS_KEY_PEM), which
 * never change.
 */
export function certificateSourceFrom(env: NodeJS.ProcessEnv, secrets: () => SecretsManagerClient): CertificateSource {
  if (env.TLS_CERT_SECRET_ID) return secretCertificateSource(secrets(), env.TLS_CERT_SECRET_ID);
  if (env.TLS_CERT_FILE && env.TLS_KEY_FILE) return fileCertificateSource(env.TLS_CERT_FILE, env.TLS_KEY_FILE);
  if (env.TLS_CERT_PEM && env.TLS_KEY_PEM) {
    const credentials = { cert: env.TLS_CERT_PEM, key: env.TLS_KEY_PEM };
    return { description: 'TLS_CERT_PEM', read: async () => credentials };
  }
  throw new Error('no TLS certificate: set TLS_CERT_SECRET_ID, or TLS_CERT_FILE and TLS_KEY_FILE, or TLS_CERT_PEM and TLS_KEY_PEM');
}

/**
 * Certificate and key files. A key file that others can read is refused, as
 * OpenSSH refuses such a key: it has been exposed already.
 */
export function fileCertificateSource(certPath: string, keyPath: string): CertificateSource {
  return {
    description: `files ${certPath}, ${keyPath}`,
    async read() {
      await assertPrivateKeyFile(keyPath);
      const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
      return { cert, key };
    },
  };
}

/** The JSON secret the data stack creates and the renewal function (or the operator) writes. */
export function secretCertificateSource(client: SecretsManagerClient, secretId: string): CertificateSource {
  return {
    description: `secret ${secretId}`,
    async read() {
      const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      let parsed: unknown;
      try {
        parsed = JSON.parse(SecretString ?? '');
      } catch {
        throw new Error(`secret ${secretId} is not JSON {"certificate", "privateKey"}`);
      }
      const { certificate, privateKey } = (parsed ?? {}) as Record<string, unknown>;
      if (typeof certificate !== 'string' || typeof privateKey !== 'string') {
        throw new Error(`secret ${secretId} lacks the string fields "certificate" and "privateKey"`);
      }
      return certificate && privateKey ? { cert: certificate, key: privateKey } : undefined;
    },
  };
}

/** What the log and the metrics may know of a certificate: nothing of the key. */
export interface CertificateFacts {
  /** SHA-256 of the leaf certificate (DER), as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly notAfter: Date;
}

/**
 * Checks that the key belongs to the leaf certificate and that TLS can use the
 * pair (the same check smtp-server's context build makes), and returns the
 * leaf's public facts. Throws without quoting either PEM.
 */
export function inspectCredentials(credentials: TlsCredentials): CertificateFacts {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(credentials.cert);
  } catch {
    throw new Error('the certificate is not a PEM X.509 certificate');
  }
  try {
    tls.createSecureContext({ cert: credentials.cert, key: credentials.key, minVersion: 'TLSv1.2' });
  } catch (error) {
    throw new Error(`the key does not fit the certificate or is unreadable (${(error as { code?: string }).code ?? 'TLS error'})`);
  }
  return { fingerprint: leaf.fingerprint256, subject: leaf.subject.replace(/\n/g, ', '), notAfter: new Date(leaf.validTo) };
}

/** Identity of a certificate and key pair, to see whether a poll found anything new. */
export function credentialsDigest(credentials: TlsCredentials): string {
  return createHash('sha256').update(credentials.cert).update('\0').update(credentials.key).digest('hex');
}

export function assertPrivateKeyFile(keyPath: string): Promise<void> {
  return assertPrivate(keyPath, 'TLS key');
}
