import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { ExportCertificateCommand, type ACMClient } from '@aws-sdk/client-acm';
import { GetSecretValueCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** What one run did, for the function's log and the deploy-time trigger: never key material. */
export type ExportOutcome =
  | { readonly outcome: 'written'; readonly fingerprint: string; readonly notAfter: string; readonly previousFingerprint?: string }
  | { readonly outcome: 'unchanged'; readonly fingerprint: string; readonly notAfter: string };

/**
 * Copies the ACM certificate (an exportable public certificate that ACM renews
 * by itself) into the relay's secret as `{"certificate": leaf + chain PEM,
 * "privateKey": unencrypted PKCS#8 PEM}`, unless the secret already holds that
 * certificate. ACM hands the key out only encrypted with a passphrase of the
 * caller's choosing; a fresh random one per export is used and forgotten,
 * and the key is decrypted in memory only to be written into the secret.
 */
export async function exportCertificateToSecret(
  clients: { acm: ACMClient; secrets: SecretsManagerClient },
  certificateArn: string,
  secretId: string,
): Promise<ExportOutcome> {
  const passphrase = randomBytes(32).toString('base64url');
  const exported = await clients.acm.send(
    new ExportCertificateCommand({ CertificateArn: certificateArn, Passphrase: new TextEncoder().encode(passphrase) }),
  );
  if (!exported.Certificate || !exported.PrivateKey) throw new Error(`ACM returned no certificate or key for ${certificateArn}`);
  const leaf = new X509Certificate(exported.Certificate);
  const facts = { fingerprint: leaf.fingerprint256, notAfter: new Date(leaf.validTo).toISOString() };

  const previous = await currentFingerprint(clients.secrets, secretId);
  if (previous === facts.fingerprint) return { outcome: 'unchanged', ...facts };

  const privateKey = createPrivateKey({ key: exported.PrivateKey, format: 'pem', passphrase })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  if (!leaf.checkPrivateKey(createPrivateKey(privateKey))) throw new Error('the exported key does not fit the exported certificate');
  const certificate = `${exported.Certificate.trim()}\n${(exported.CertificateChain ?? '').trim()}\n`;
  await clients.secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ certificate, privateKey }) }));
  return { outcome: 'written', ...facts, ...(previous ? { previousFingerprint: previous } : {}) };
}

/** Fingerprint of the leaf certificate in the secret; undefined while it is empty or unreadable as a certificate. */
async function currentFingerprint(secrets: SecretsManagerClient, secretId: string): Promise<string | undefined> {
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
  try {
    const { certificate } = JSON.parse(SecretString ?? '{}') as { certificate?: unknown };
    return typeof certificate === 'string' && certificate ? new X509Certificate(certificate).fingerprint256 : undefined;
  } catch {
    return undefined;
  }
}
