/**
 * What kind of password hash a stored (or imported) string is: the scheme a
 * `user show` names, and whether the policy can verify it at all, which decides
 * whether an import keeps a user. It reads only the scheme's marks; the policy
 * (`lambda/legacy-password-hash.ts`) still parses every hash strictly at login.
 */
export type PasswordHashKind =
  | { readonly verifiable: true; readonly scheme: string; readonly legacy: boolean }
  | { readonly verifiable: false; readonly reason: string };

/** The legacy schemes the policy verifies natively, by Dovecot name, and the crypt prefix of each. */
const LEGACY_SCHEMES: ReadonlyArray<{ readonly scheme: string; readonly mark: RegExp }> = [
  { scheme: 'SHA512-CRYPT', mark: /^\$6\$/ },
  { scheme: 'SHA256-CRYPT', mark: /^\$5\$/ },
  { scheme: 'BLF-CRYPT', mark: /^\$2[aby]\$/ },
  { scheme: 'ARGON2ID', mark: /^\$argon2id\$/ },
];
/** What an import tells the operator to do about a user whose hash it could not keep. */
export const UNVERIFIABLE_HINT = 'add the user with relayctl user add (a new password)';

const VERIFIED = LEGACY_SCHEMES.map(({ scheme }) => `{${scheme}}`).join(', ');

export function classifyPasswordHash(stored: string): PasswordHashKind {
  if (stored.startsWith('$scrypt$')) return { verifiable: true, scheme: 'scrypt', legacy: false };
  const prefix = /^\{([A-Za-z0-9.-]+)\}/.exec(stored);
  const hash = prefix ? stored.slice(prefix[0].length) : stored;
  if (hash === '') return { verifiable: false, reason: 'no password hash' };
  const marked = LEGACY_SCHEMES.find(({ mark }) => mark.test(hash))?.scheme;
  if (!prefix) {
    return marked
      ? { verifiable: true, scheme: marked, legacy: true }
      : { verifiable: false, reason: `not a hash the relay can verify (it verifies ${VERIFIED} and their bare crypt forms)` };
  }
  const named = prefix[1]!.toUpperCase();
  if (named === marked) return { verifiable: true, scheme: named, legacy: true };
  // The policy takes the scheme from the hash and refuses a prefix that disagrees, {CRYPT} included.
  if (marked) return { verifiable: false, reason: `{${prefix[1]}} labels a ${marked} hash; the relay verifies it only labelled {${marked}}` };
  return { verifiable: false, reason: `{${prefix[1]}} is a scheme the relay cannot verify (it verifies ${VERIFIED})` };
}
