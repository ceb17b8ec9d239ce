/** One line of `doctor`'s answer. */
export interface CheckResult {
  /** What was checked, short ("tls key", "ses identity example.org"). */
  readonly check: string;
  /** `fail`: the deployment cannot work as it is; `warn`: it works, but needs attention soon. */
  readonly status: 'ok' | 'warn' | 'fail';
  /** What was found. */
  readonly message: string;
  /** What to do about a warn or fail. */
  readonly fix?: string;
}

/** A certificate closer to its end than this gets a warning: time for a renewal that went wrong to be noticed. */
const CERTIFICATE_WARNING_DAYS = 21;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Judges a certificate's end of validity (`validTo` as X509Certificate and TLS peer certificates write it). */
export function certificateExpiryCheck(check: string, validTo: string, renew: string, now = new Date()): CheckResult {
  const end = new Date(validTo);
  const daysLeft = Math.floor((end.getTime() - now.getTime()) / DAY_MS);
  if (Number.isNaN(end.getTime())) return { check, status: 'fail', message: `unreadable expiry date "${validTo}"`, fix: renew };
  if (end.getTime() <= now.getTime()) return { check, status: 'fail', message: `expired on ${end.toISOString()}`, fix: renew };
  if (daysLeft < CERTIFICATE_WARNING_DAYS) {
    return { check, status: 'warn', message: `expires on ${end.toISOString()}, in ${daysLeft} days`, fix: renew };
  }
  return { check, status: 'ok', message: `valid until ${end.toISOString()} (${daysLeft} days)` };
}

/** `error` as a short text for a check's message: the code a network error has, else its message. */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: string }).code;
  if (error.name && error.name !== 'Error' && '$metadata' in error) return `${error.name}: ${error.message}`;
  return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}
