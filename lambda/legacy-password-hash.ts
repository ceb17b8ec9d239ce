/**
 * Verification of the password hashes users bring from Dovecot/Postfix mail
 * servers, so they keep their password when they move to the relay. The policy
 * only ever verifies these; a successful login replaces them with our own scrypt
 * hash (`password-hash.ts`), so nothing here ever creates one.
 *
 * SECURITY: the stored string comes from our user table, which only `relayctl`
 * writes, but it is parsed strictly all the same and its work factors are capped
 * (`LIMITS`), so that a corrupt or hostile record cannot pin the function for
 * minutes or exhaust its memory. Every comparison of a computed hash with the
 * stored one is constant-time.
 *
 * STANDARDS: SHA-crypt `$5$`/`$6$` (Ulrich Drepper, "Unix crypt using SHA-256 and
 * SHA-512", 2008); bcrypt `$2a$`/`$2b$`/`$2y$` (Provos & Mazières 1999, as in
 * OpenBSD and Openwall crypt_blowfish); Argon2id v1.3 (RFC 9106) in the PHC string
 * format that libsodium and Dovecot write; Dovecot's `{SCHEME}` prefix.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { argon2id, bcryptVerify } from 'hash-wasm';

/** The Dovecot scheme names we verify, as written in a `{SCHEME}` prefix. */
type LegacyScheme = 'SHA512-CRYPT' | 'SHA256-CRYPT' | 'BLF-CRYPT' | 'ARGON2ID';

/**
 * Upper bounds on the work a stored hash may ask for, far above what the tools
 * write by default (SHA-crypt 5,000 rounds; bcrypt cost 5 in Dovecot and
 * mkpasswd; Argon2id m=64 MiB, t=3, p=1 in Dovecot). Measured on the development
 * machine, the most they allow costs at most about 2.5 s (SHA-crypt 1.8 µs a
 * round; bcrypt cost 14 about 1 s; Argon2id about 1.2 ms per MiB and pass) and
 * 256 MiB of memory.
 * A hash beyond them never verifies: its user needs a new password.
 */
const LIMITS = {
  shaCryptRounds: 1_000_000,
  bcryptCost: 14,
  argon2MemoryKiB: 256 * 1024,
  argon2Iterations: 8,
  argon2Parallelism: 16,
} as const;

/** bcrypt reads at most 72 bytes of password; the tools silently drop the rest. */
const BCRYPT_MAX_PASSWORD_BYTES = 72;

/**
 * Verifies `password` against a legacy hash, with or without its Dovecot
 * `{SCHEME}` prefix. Resolves to false when the password does not match, and
 * also when the stored string is no hash we know or is malformed: the caller
 * treats both as a wrong password. Never throws for a malformed stored string.
 * `password` must not be empty (hash-wasm's bcrypt throws for one);
 * `verifyPassword` refuses empty passwords before it gets here.
 */
export async function verifyLegacyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = splitScheme(stored);
  if (!parsed) return false;
  const passwordBytes = Buffer.from(password, 'utf8');
  switch (parsed.scheme) {
    case 'SHA512-CRYPT':
    case 'SHA256-CRYPT':
      return verifyShaCrypt(passwordBytes, parsed.hash);
    case 'BLF-CRYPT':
      return verifyBcrypt(passwordBytes, parsed.hash);
    case 'ARGON2ID':
      return verifyArgon2id(passwordBytes, parsed.hash);
  }
}

/**
 * Dovecot writes `{SHA512-CRYPT}$6$...`; other tools (mkpasswd, htpasswd, older
 * setups) store the bare crypt string. The scheme is taken from the hash itself;
 * a prefix, when present, must agree with it, so a mislabelled record is refused
 * rather than guessed at.
 */
function splitScheme(stored: string): { scheme: LegacyScheme; hash: string } | undefined {
  const prefix = /^\{([A-Za-z0-9-]+)\}/.exec(stored);
  const hash = prefix ? stored.slice(prefix[0].length) : stored;
  const scheme = schemeOfHash(hash);
  if (!scheme) return undefined;
  if (prefix && prefix[1]!.toUpperCase() !== scheme) return undefined;
  return { scheme, hash };
}

function schemeOfHash(hash: string): LegacyScheme | undefined {
  if (hash.startsWith('$6$')) return 'SHA512-CRYPT';
  if (hash.startsWith('$5$')) return 'SHA256-CRYPT';
  if (/^\$2[aby]\$/.test(hash)) return 'BLF-CRYPT';
  if (hash.startsWith('$argon2id$')) return 'ARGON2ID';
  return undefined;
}

// --- SHA-crypt ---------------------------------------------------------------
// Implemented here over node:crypto: the one maintained npm package (unixcrypt
// 3.0.4) computes wrong hashes for passwords whose length is a multiple of the
// digest size (32 bytes for $5$, 64 for $6$), which password managers produce.

interface ShaCryptVariant {
  readonly algorithm: 'sha256' | 'sha512';
  /** Length of the encoded hash part after the last `$`. */
  readonly encodedLength: number;
  /**
   * Step 22 of the spec: the digest bytes in the order they are encoded, three at
   * a time (most significant first), then the bytes of the final short group.
   */
  readonly encodingOrder: readonly (readonly number[])[];
}

const SHA_CRYPT: Readonly<Record<'5' | '6', ShaCryptVariant>> = {
  '5': {
    algorithm: 'sha256',
    encodedLength: 43,
    encodingOrder: [
      [0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14],
      [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29],
      [31, 30],
    ],
  },
  '6': {
    algorithm: 'sha512',
    encodedLength: 86,
    encodingOrder: [
      [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4],
      [47, 5, 26], [6, 27, 48], [28, 49, 7], [50, 8, 29], [9, 30, 51],
      [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13], [56, 14, 35],
      [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19],
      [62, 20, 41], [63],
    ],
  },
};

const SHA_CRYPT_DEFAULT_ROUNDS = 5000;
/** The spec raises any smaller `rounds=` to this, so no tool writes less. */
const SHA_CRYPT_MIN_ROUNDS = 1000;
const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function verifyShaCrypt(password: Buffer, hash: string): boolean {
  // Rounds are written without leading zeros; the salt is at most 16 characters.
  const match = /^\$([56])\$(?:rounds=([1-9][0-9]{0,9})\$)?([./0-9A-Za-z]{0,16})\$([./0-9A-Za-z]+)$/.exec(hash);
  if (!match) return false;
  const variant = SHA_CRYPT[match[1] as '5' | '6'];
  const rounds = match[2] === undefined ? SHA_CRYPT_DEFAULT_ROUNDS : Number(match[2]);
  const expected = match[4]!;
  if (rounds < SHA_CRYPT_MIN_ROUNDS || rounds > LIMITS.shaCryptRounds) return false;
  if (expected.length !== variant.encodedLength) return false;
  const digest = shaCryptDigest(variant.algorithm, password, Buffer.from(match[3]!, 'ascii'), rounds);
  const computed = Buffer.from(encodeCryptBase64(digest, variant.encodingOrder), 'ascii');
  return timingSafeEqual(computed, Buffer.from(expected, 'ascii'));
}

/** Steps 1–21 of Drepper's specification; comments give the step numbers. */
function shaCryptDigest(
  algorithm: ShaCryptVariant['algorithm'],
  password: Buffer,
  salt: Buffer,
  rounds: number,
): Buffer {
  const hash = () => createHash(algorithm);
  // 4–8: digest B = H(password, salt, password).
  const b = hash().update(password).update(salt).update(password).digest();
  // 1–3, 9–12: digest A.
  const a = hash().update(password).update(salt);
  a.update(repeatToLength(b, password.length));
  for (let bits = password.length; bits > 0; bits >>= 1) a.update(bits & 1 ? b : password);
  const digestA = a.digest();
  // 13–16: byte sequence P, from digest DP = H(password repeated once per password byte).
  const dp = hash();
  for (let i = 0; i < password.length; i++) dp.update(password);
  const p = repeatToLength(dp.digest(), password.length);
  // 17–20: byte sequence S, from digest DS = H(salt repeated 16 + A[0] times).
  const ds = hash();
  for (let i = 0; i < 16 + digestA[0]!; i++) ds.update(salt);
  const s = repeatToLength(ds.digest(), salt.length);
  // 21: the rounds.
  let c = digestA;
  for (let round = 0; round < rounds; round++) {
    const h = hash();
    h.update(round % 2 === 1 ? p : c);
    if (round % 3 !== 0) h.update(s);
    if (round % 7 !== 0) h.update(p);
    h.update(round % 2 === 1 ? c : p);
    c = h.digest();
  }
  return c;
}

/**
 * The first `length` bytes of the digest repeated (steps 9–10, 16 and 20). For
 * a length that is an exact multiple of the digest size this is whole digests
 * only: the case unixcrypt gets wrong.
 */
function repeatToLength(digest: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += digest.length) {
    digest.copy(out, offset, 0, Math.min(digest.length, length - offset));
  }
  return out;
}

/** Step 22: crypt's base-64, least significant six bits first, in the spec's byte order. */
function encodeCryptBase64(digest: Buffer, order: readonly (readonly number[])[]): string {
  let out = '';
  for (const group of order) {
    let bits = 0;
    for (const index of group) bits = (bits << 8) | digest[index]!;
    // A group of n bytes yields n + 1 characters: 4 for 3 bytes, 3 for 2, 2 for 1.
    for (let n = 0; n <= group.length; n++, bits >>>= 6) out += CRYPT_ALPHABET[bits & 0x3f];
  }
  return out;
}

// --- bcrypt ------------------------------------------------------------------

async function verifyBcrypt(password: Buffer, hash: string): Promise<boolean> {
  const match = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/.exec(hash);
  if (!match) return false;
  const cost = Number(match[1]);
  if (cost < 4 || cost > LIMITS.bcryptCost) return false;
  // hash-wasm refuses longer passwords where crypt_blowfish (Dovecot, libxcrypt)
  // silently uses the first 72 bytes: truncate as they did when they hashed.
  // The comparison inside bcryptVerify is constant-time.
  return bcryptVerify({ password: password.subarray(0, BCRYPT_MAX_PASSWORD_BYTES), hash });
}

// --- Argon2id ----------------------------------------------------------------

async function verifyArgon2id(password: Buffer, hash: string): Promise<boolean> {
  const match =
    /^\$argon2id\$v=19\$m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,9})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(hash);
  if (!match) return false;
  const [memoryKiB, iterations, parallelism] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const salt = decodeBase64(match[4]!);
  const expected = decodeBase64(match[5]!);
  if (!salt || !expected) return false;
  if (memoryKiB > LIMITS.argon2MemoryKiB || iterations > LIMITS.argon2Iterations) return false;
  if (parallelism > LIMITS.argon2Parallelism) return false;
  // RFC 9106 minimums (memory 8 KiB per lane, salt 8 bytes); a tag shorter than
  // 16 bytes is no tool's output and too short to trust.
  if (memoryKiB < 8 * parallelism || salt.length < 8 || expected.length < 16 || expected.length > 64) return false;
  // hash-wasm's own argon2Verify compares strings with ===; compute the raw tag
  // and compare it in constant time instead.
  const computed = await argon2id({
    password,
    salt,
    iterations,
    parallelism,
    memorySize: memoryKiB,
    hashLength: expected.length,
    outputType: 'binary',
  });
  return timingSafeEqual(computed, expected);
}

/** Unpadded standard base-64 of the PHC string format; undefined unless canonical. */
function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64').replace(/=+$/, '') === text ? bytes : undefined;
}
