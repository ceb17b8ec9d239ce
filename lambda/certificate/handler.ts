/**
 * Certificate export function: keeps the relay's certificate secret in step
 * with the ACM certificate that ACM renews on its own.
 *
 * SECURITY: invoked by EventBridge (ACM's "Certificate Available" and daily
 * "Approaching Expiration" events for this one certificate, and a daily
 * schedule) and once at deploy by the stack. May export that one certificate
 * and read and write that one secret, nothing else. The event is not trusted
 * for anything: whatever woke it, it exports the configured certificate.
 * Logs fingerprints and dates, never a key.
 */
import { ACMClient } from '@aws-sdk/client-acm';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { exportCertificateToSecret, type ExportOutcome } from './certificate-export.ts';

const certificateArn = process.env.CERTIFICATE_ARN;
const secretId = process.env.SECRET_ID;
if (!certificateArn || !secretId) throw new Error('CERTIFICATE_ARN and SECRET_ID must be set');

const clients = { acm: new ACMClient({}), secrets: new SecretsManagerClient({}) };

export async function handler(): Promise<ExportOutcome> {
  const outcome = await exportCertificateToSecret(clients, certificateArn!, secretId!);
  console.log(JSON.stringify({ event: 'certificate-export', ...outcome }));
  return outcome;
}
