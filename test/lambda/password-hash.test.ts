import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { describe, it, mock } from 'node:test';
import { hashPassword, verifyAgainstDummy, verifyPassword } from '../../lambda/password-hash.ts';

// Every password in this file is a fake test password. Hashes from the real
// Dovecot and mkpasswd tools are tested in legacy-password-hash.test.ts; here
// they only show how verifyPassword reports them.

const PASSWORD = 'test-password-1';
const CURRENT_FORMAT = /^\$scrypt\$ln=14,r=8,p=1\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$/;

/** Our PHC format with any parameters, for hashes `hashPassword` no longer writes. */
function scryptHash(password: string, { ln, r, p }: { ln: number; r: number; p: number }, saltBytes = 16, keyBytes = 32): string {
  const salt = crypto.randomBytes(saltBytes);
  const key = crypto.scryptSync(password, salt, keyBytes, { N: 2 ** ln, r, p, maxmem: 256 * 1024 * 1024 });
  const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${ln},r=${r},p=${p}$${b64(salt)}$${b64(key)}`;
}

/**
 * The same bytes in a non-canonical spelling: a 16-byte salt leaves four unused
 * low bits in its last character, which a lenient decoder ignores.
 */
function withStrayLowBit(canonical: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = alphabet.indexOf(canonical.at(-1)!);
  return canonical.slice(0, -1) + alphabet[last | 1];
}

const legacyFixtures = (
  JSON.parse(readFileSync(new URL('../fixtures/legacy-hashes.json', import.meta.url), 'utf8')) as {
    hashes: { scheme: string; tool: string; password: string; hash: string }[];
  }
).hashes;

describe('hashPassword', () => {
  it('writes a PHC scrypt string: ln=14, r=8, p=1, 16-byte salt, 32-byte key', async () => {
    const match = CURRENT_FORMAT.exec(await hashPassword(PASSWORD));
    assert.ok(match, 'not in the current format');
    assert.equal(Buffer.from(match[1]!, 'base64').length, 16);
    assert.equal(Buffer.from(match[2]!, 'base64').length, 32);
  });

  it('round trip: the password verifies and needs no rehash', async () => {
    assert.deepEqual(await verifyPassword(PASSWORD, await hashPassword(PASSWORD)), { ok: true, needsRehash: false });
  });

  it('draws a fresh salt for every hash', async () => {
    const hashes = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD), hashPassword(PASSWORD)]);
    const salts = hashes.map((hash) => CURRENT_FORMAT.exec(hash)![1]);
    assert.equal(new Set(salts).size, 3);
    assert.equal(new Set(hashes).size, 3);
    for (const hash of hashes) assert.equal((await verifyPassword(PASSWORD, hash)).ok, true);
  });

  it('hashes the UTF-8 bytes as given, without Unicode normalisation', async () => {
    const composed = 'test-pässwörd-✓';
    const decomposed = composed.normalize('NFD');
    const hash = await hashPassword(composed);
    assert.equal((await verifyPassword(composed, hash)).ok, true);
    assert.equal((await verifyPassword(decomposed, hash)).ok, false);
  });

  it('takes passwords of 1 to 1024 bytes and refuses others without quoting them', async () => {
    const longest = 'test-password-'.padEnd(1024, 'y');
    assert.equal((await verifyPassword(longest, await hashPassword(longest))).ok, true);
    assert.equal((await verifyPassword('z', await hashPassword('z'))).ok, true);
    for (const refused of ['', `${longest}y`, 'test-password-'.padEnd(600, 'ü')]) {
      await assert.rejects(hashPassword(refused), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.ok(refused === '' || !error.message.includes('test-password'), 'the message quotes the password');
        return true;
      });
    }
  });
});

describe('verifyPassword with our scheme', () => {
  it('refuses a wrong password, and never asks for a rehash then', async () => {
    const hash = await hashPassword(PASSWORD);
    for (const wrong of ['test-password-2', 'Test-password-1', 'test-password-1 ', 'test-password-', 'x']) {
      assert.deepEqual(await verifyPassword(wrong, hash), { ok: false, needsRehash: false });
    }
  });

  it('refuses an empty and an overlong password outright', async () => {
    const hash = await hashPassword(PASSWORD);
    assert.deepEqual(await verifyPassword('', hash), { ok: false, needsRehash: false });
    assert.deepEqual(await verifyPassword('test-password-'.padEnd(1025, 'y'), hash), { ok: false, needsRehash: false });
  });

  describe('needsRehash', () => {
    const cases: readonly [string, string, boolean][] = [
      ['current parameters', scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 }), false],
      ['stronger N (ln=15)', scryptHash(PASSWORD, { ln: 15, r: 8, p: 1 }), false],
      ['stronger p (p=2)', scryptHash(PASSWORD, { ln: 14, r: 8, p: 2 }), false],
      ['weaker N (ln=12)', scryptHash(PASSWORD, { ln: 12, r: 8, p: 1 }), true],
      ['weaker r (r=4)', scryptHash(PASSWORD, { ln: 14, r: 4, p: 1 }), true],
      ['weaker N, stronger p (ln=13, p=2)', scryptHash(PASSWORD, { ln: 13, r: 8, p: 2 }), true],
      ['8-byte salt', scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 }, 8), true],
      ['16-byte key', scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 }, 16, 16), true],
    ];
    for (const [description, hash, needsRehash] of cases) {
      it(`scrypt with ${description}: ${needsRehash ? 'rehash' : 'keep'}`, async () => {
        assert.deepEqual(await verifyPassword(PASSWORD, hash), { ok: true, needsRehash });
        assert.deepEqual(await verifyPassword('wrong-password', hash), { ok: false, needsRehash: false });
      });
    }

    for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID']) {
      it(`${scheme} from the real tools: rehash once verified`, async () => {
        const f = legacyFixtures.find((candidate) => candidate.scheme === scheme);
        assert.ok(f, `no ${scheme} fixture`);
        assert.deepEqual(await verifyPassword(f.password, f.hash), { ok: true, needsRehash: true });
        assert.deepEqual(await verifyPassword('wrong-password', f.hash), { ok: false, needsRehash: false });
      });
    }

    it('a rehashed legacy password verifies against its new hash and needs no further rehash', async () => {
      const f = legacyFixtures.find((candidate) => candidate.scheme === 'SHA512-CRYPT')!;
      const rehashed = await hashPassword(f.password);
      assert.match(rehashed, CURRENT_FORMAT);
      assert.deepEqual(await verifyPassword(f.password, rehashed), { ok: true, needsRehash: false });
    });
  });

  describe('malformed stored strings: ok false, no throw', () => {
    const good = scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 });
    const [, , params, salt, key] = good.split('$') as [string, string, string, string, string];
    const cases: readonly [string, string][] = [
      ['empty string', ''],
      ['whitespace', '   '],
      ['scheme alone', '$scrypt$'],
      ['no key', `$scrypt$${params}$${salt}`],
      ['empty salt and key', `$scrypt$${params}$$`],
      ['extra field', `${good}$AAAA`],
      ['trailing newline', `${good}\n`],
      ['upper-case scheme', good.replace('$scrypt$', '$SCRYPT$')],
      ['padded base-64', `$scrypt$${params}$${salt}==$${key}`],
      ['URL-safe base-64', `$scrypt$${params}$${salt.replace(/./, '-')}$${key}`],
      ['non-canonical base-64 (stray low bits, same bytes)', `$scrypt$${params}$${withStrayLowBit(salt)}$${key}`],
      ['parameters out of order', good.replace('ln=14,r=8', 'r=8,ln=14')],
      ['parameter missing', good.replace(',p=1', '')],
      ['leading zero', good.replace('ln=14', 'ln=014')],
      ['ln=0', good.replace('ln=14', 'ln=0')],
      ['r=0', good.replace('r=8', 'r=0')],
      ['negative p', good.replace('p=1', 'p=-1')],
      ['memory over our 256 MiB limit (ln=20)', good.replace('ln=14', 'ln=20')],
      ['absurd N (ln=99)', good.replace('ln=14', 'ln=99')],
      ['N not below 2^(16r) (ln=16, r=1)', good.replace('ln=14,r=8', 'ln=16,r=1')],
      ['p over our limit of 16', good.replace('p=1', 'p=17')],
      // Real hashes of the password, refused for their shape alone.
      ['4-byte salt', scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 }, 4)],
      ['8-byte key', scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 }, 16, 8)],
      ['65-byte key', scryptHash(PASSWORD, { ln: 14, r: 8, p: 1 }, 16, 65)],
      ['unknown scheme', good.replace('$scrypt$', '$yescrypt$')],
      ['plain text with a Dovecot prefix', `{PLAIN}${PASSWORD}`],
      ['just the password', PASSWORD],
    ];
    for (const [description, stored] of cases) {
      it(description, async () => {
        assert.deepEqual(await verifyPassword(PASSWORD, stored), { ok: false, needsRehash: false });
      });
    }
  });
});

describe('timing', () => {
  it('compares keys with crypto.timingSafeEqual, for right and wrong passwords alike', async (t) => {
    const hash = await hashPassword(PASSWORD);
    // The module imported timingSafeEqual by name: syncBuiltinESMExports makes
    // that binding see the spy.
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    for (const [attempt, ok] of [[PASSWORD, true], ['wrong-password', false]] as const) {
      spy.mock.resetCalls();
      assert.equal((await verifyPassword(attempt, hash)).ok, ok);
      assert.equal(spy.mock.callCount(), 1);
      const [derived, stored] = spy.mock.calls[0]!.arguments as [Buffer, Buffer];
      assert.equal(derived.length, 32);
      assert.equal(stored.length, 32);
      assert.equal(spy.mock.calls[0]!.result, ok);
    }
  });

  it('the dummy for unknown users runs the same scrypt comparison and always refuses', async (t) => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    assert.deepEqual(await verifyAgainstDummy(PASSWORD), { ok: false, needsRehash: false });
    assert.equal(spy.mock.callCount(), 1);
    assert.equal((spy.mock.calls[0]!.arguments[0] as Buffer).length, 32);
  });

  it('the dummy costs about as much as verifying a real current hash', async () => {
    const hash = await hashPassword(PASSWORD);
    const real: number[] = [];
    const dummy: number[] = [];
    const timed = async (samples: number[], run: () => Promise<unknown>) => {
      const start = performance.now();
      await run();
      samples.push(performance.now() - start);
    };
    // Interleaved, so that a burst of load on the machine hits both alike.
    for (let i = 0; i < 9; i++) {
      await timed(real, () => verifyPassword('wrong-password', hash));
      await timed(dummy, () => verifyAgainstDummy('wrong-password'));
    }
    const median = (samples: number[]) => samples.sort((a, b) => a - b)[samples.length >> 1]!;
    const ratio = median(dummy) / median(real);
    // Same code, same parameters: the bounds only absorb scheduling noise.
    assert.ok(ratio > 0.5 && ratio < 2, `dummy ${median(dummy).toFixed(1)} ms vs real ${median(real).toFixed(1)} ms`);
  });
});
