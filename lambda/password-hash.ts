/**
 * Password hashes of relay users: `relayctl` hashes a new password, the policy
 * function verifies one at AUTH. Our scheme is scrypt (RFC 7914) from node:crypto,
 * stored as a PHC string:
 *
 *   $scrypt$ln=14,r=8,p=1$<salt, base-64>$<key, base-64>
 *
 * (ln = log2 of scrypt's N; base-64 is the standard alphabet without padding.)
 * Hashes users brought from Dovecot/Postfix are verified by
 * `legacy-password-hash.ts` and reported as needing a rehash, so each moves to
 * scrypt at its user's next login.
 *
 * SECURITY: the password never appears in a return value, an error or a log.
 * Keys are compared in constant time, and an unknown user costs the same scrypt
 * computation as a known one (`verifyAgainstDummy`), so timing does not tell
 * whether a login exists. It does tell a legacy hash from ours (each scheme
 * costs what it costs) until its user has logged in once: the relay hides
 * that, and every other difference, by answering no refusal sooner than one
 * floor (AUTH_FAILURE_FLOOR_MS, relay/client-authentication.ts).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { verifyLegacyPassword } from './legacy-password-hash.ts';

/** The outcome of checking a password against a stored hash. */
export interface PasswordVerification {
  /** The password matches the stored hash. */
  readonly ok: boolean;
  /**
   * The stored hash is a legacy scheme or weaker scrypt than `hashPassword`
   * writes today: store `hashPassword(password)` in its place. Only ever true
   * together with `ok`, since only a verified password can be rehashed.
   */
  readonly needsRehash: boolean;
}

interface ScryptParameters {
  /** log2 of the CPU/memory cost N. */
  readonly ln: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

/**
 * The cost `hashPassword` writes. N = 2^14, r = 8, p = 1 takes 16 MiB and a
 * median of 35 ms per hash or verification on the development machine (2-vCPU
 * Xeon, Node 20); N = 2^15 took 75 ms, over our 20–60 ms budget for an AUTH.
 */
const CURRENT: ScryptParameters = { ln: 14, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/**
 * Bounds on a stored hash's cost, so that a corrupt record cannot exhaust the
 * function's memory or time; they leave room to raise `CURRENT` a few steps.
 */
const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024;
const MAX_SCRYPT_PARALLELISM = 16;

/**
 * Longer passwords are refused before any hashing: SHA-crypt's work grows with
 * the password's length, and no tool or person uses a longer one (libxcrypt
 * refuses more than 512 bytes).
 */
const MAX_PASSWORD_BYTES = 1024;

const REJECTED: PasswordVerification = { ok: false, needsRehash: false };

/**
 * Hashes `password` with a fresh random salt in our current scheme. Throws a
 * RangeError (naming only the rule broken) for an empty password or one longer
 * than 1024 UTF-8 bytes: neither could ever verify.
 */
export async function hashPassword(password: string): Promise<string> {
  if (!isVerifiableLength(password)) {
    throw new RangeError(`password must be 1 to ${MAX_PASSWORD_BYTES} bytes of UTF-8`);
  }
  const salt = randomBytes(SALT_BYTES);
  const key = await deriveKey(password, salt, CURRENT, KEY_BYTES);
  return formatScryptHash(CURRENT, salt, key);
}

/**
 * Checks `password` against `stored`: our scrypt PHC string, or a legacy hash
 * (`{SHA512-CRYPT}`, `{SHA256-CRYPT}`, `{BLF-CRYPT}`, `{ARGON2ID}`, with or
 * without the Dovecot prefix). A malformed or unknown stored string, an empty
 * password and an overlong one all give `ok: false`; this never throws for
 * them. It throws only when the computation itself fails (out of memory, say),
 * which the caller must treat as "could not decide", and such an error never
 * carries the password.
 */
export async function verifyPassword(password: string, stored: string): Promise<PasswordVerification> {
  // Decided on the password alone, the same for every user, so it leaks nothing.
  if (!isVerifiableLength(password)) return REJECTED;
  if (!stored.startsWith('$scrypt$')) {
    const ok = await verifyLegacyPassword(password, stored);
    return { ok, needsRehash: ok };
  }
  const parsed = parseScryptHash(stored);
  if (!parsed) return REJECTED;
  const derived = await deriveKey(password, parsed.salt, parsed.parameters, parsed.key.length);
  const ok = timingSafeEqual(derived, parsed.key);
  return { ok, needsRehash: ok && isWeakerThanCurrent(parsed) };
}

/**
 * A stand-in hash in the current scheme that no password matches: random key,
 * random salt, made once per process without hashing anything.
 */
const DUMMY_HASH = formatScryptHash(CURRENT, randomBytes(SALT_BYTES), randomBytes(KEY_BYTES));

/**
 * For a login that does not exist: runs the very same verification as
 * `verifyPassword` against a current-scheme hash, so the reply takes as long as
 * for a real user, and always resolves to `ok: false`.
 */
export async function verifyAgainstDummy(password: string): Promise<PasswordVerification> {
  await verifyPassword(password, DUMMY_HASH);
  return REJECTED;
}

function isVerifiableLength(password: string): boolean {
  const bytes = Buffer.byteLength(password, 'utf8');
  return bytes > 0 && bytes <= MAX_PASSWORD_BYTES;
}

interface ScryptHash {
  readonly parameters: ScryptParameters;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** Our PHC string: parameters in this order, numbers without leading zeros. */
const SCRYPT_HASH = /^\$scrypt\$ln=([1-9][0-9]?),r=([1-9][0-9]{0,2}),p=([1-9][0-9]?)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function parseScryptHash(stored: string): ScryptHash | undefined {
  const match = SCRYPT_HASH.exec(stored);
  if (!match) return undefined;
  const parameters = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const salt = decodeBase64(match[4]!);
  const key = decodeBase64(match[5]!);
  if (!salt || !key) return undefined;
  if (scryptMemoryBytes(parameters) > MAX_SCRYPT_MEMORY_BYTES) return undefined;
  if (parameters.p > MAX_SCRYPT_PARALLELISM) return undefined;
  // scrypt itself requires N < 2^(16·r); node:crypto would throw rather than answer.
  if (parameters.ln >= 16 * parameters.r) return undefined;
  // Shorter salts or keys than these are no output of ours and too weak to trust.
  if (salt.length < 8 || key.length < 16 || key.length > 64) return undefined;
  return { parameters, salt, key };
}

function isWeakerThanCurrent({ parameters, salt, key }: ScryptHash): boolean {
  return (
    parameters.ln < CURRENT.ln ||
    parameters.r < CURRENT.r ||
    parameters.p < CURRENT.p ||
    salt.length < SALT_BYTES ||
    key.length < KEY_BYTES
  );
}

/**
 * OpenSSL's own accounting of what scrypt allocates (V: 128·r·(N+2) bytes,
 * B: 128·r·p bytes); node:crypto refuses to run when this exceeds `maxmem`,
 * whose default of 32 MiB is too small for some costs we accept.
 */
function scryptMemoryBytes({ ln, r, p }: ScryptParameters): number {
  return 128 * r * (2 ** ln + p + 2);
}

function formatScryptHash({ ln, r, p }: ScryptParameters, salt: Buffer, key: Buffer): string {
  return `$scrypt$ln=${ln},r=${r},p=${p}$${encodeBase64(salt)}$${encodeBase64(key)}`;
}

function deriveKey(password: string, salt: Buffer, parameters: ScryptParameters, keyBytes: number): Promise<Buffer> {
  const options: ScryptOptions = {
    N: 2 ** parameters.ln,
    r: parameters.r,
    p: parameters.p,
    maxmem: scryptMemoryBytes(parameters),
  };
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function encodeBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

/** Unpadded standard base-64 of the PHC string format; undefined unless canonical. */
function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return encodeBase64(bytes) === text ? bytes : undefined;
}
