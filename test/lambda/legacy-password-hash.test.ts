import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { describe, it, mock } from 'node:test';
import { verifyLegacyPassword } from '../../lambda/legacy-password-hash.ts';
import { requireTool } from '../support/required-tools.ts';

// Every password in this file is a fake test password. Test names describe a
// password (its length, its characters) and never print it.

interface LegacyFixture {
  readonly scheme: string;
  readonly tool: string;
  readonly command: string;
  readonly password: string;
  readonly hash: string;
  readonly note: string;
}

const fixtures = (
  JSON.parse(readFileSync(new URL('../fixtures/legacy-hashes.json', import.meta.url), 'utf8')) as {
    hashes: LegacyFixture[];
  }
).hashes;

/** Drepper's test vectors from "Unix crypt using SHA-256 and SHA-512", as crypt() writes them. */
const SPEC_VECTORS: readonly { readonly password: string; readonly hash: string }[] = [
  { password: 'Hello world!', hash: '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5' },
  { password: 'Hello world!', hash: '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA' },
  { password: 'This is just a test', hash: '$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5' },
  {
    password: 'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    hash: '$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1',
  },
  {
    password: 'we have a short salt string but not a short password',
    hash: '$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/',
  },
  { password: 'a short string', hash: '$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD' },
  { password: 'the minimum number is still observed', hash: '$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC' },
  {
    password: 'Hello world!',
    hash: '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  },
  {
    password: 'Hello world!',
    hash: '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
  },
  {
    password: 'This is just a test',
    hash: '$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0',
  },
  {
    password: 'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    hash: '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
  },
  {
    password: 'we have a short salt string but not a short password',
    hash: '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0',
  },
  {
    password: 'a short string',
    hash: '$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1',
  },
  {
    password: 'the minimum number is still observed',
    hash: '$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.',
  },
];

function fixture(predicate: (f: LegacyFixture) => boolean): LegacyFixture {
  const found = fixtures.find(predicate);
  assert.ok(found, 'fixture missing from test/fixtures/legacy-hashes.json');
  return found;
}

/** The hash without its Dovecot `{SCHEME}` prefix, as mkpasswd and older setups store it. */
function withoutPrefix(hash: string): string {
  return hash.replace(/^\{[A-Z0-9-]+\}/, '');
}

describe('SHA-crypt against the specification', () => {
  for (const [index, vector] of SPEC_VECTORS.entries()) {
    it(`verifies test vector ${index + 1}, ${vector.hash.slice(0, vector.hash.lastIndexOf('$'))}`, async () => {
      assert.equal(await verifyLegacyPassword(vector.password, vector.hash), true);
      assert.equal(await verifyLegacyPassword(`${vector.password}.`, vector.hash), false);
      assert.equal(await verifyLegacyPassword(vector.password.slice(1), vector.hash), false);
    });
  }
});

describe('hashes the real tools made once (test/fixtures/legacy-hashes.json)', () => {
  for (const f of fixtures) {
    const bytes = Buffer.byteLength(f.password);
    it(`${f.tool} ${f.scheme}: ${f.note} (${bytes}-byte password)`, async () => {
      assert.equal(await verifyLegacyPassword(f.password, f.hash), true);
      assert.equal(await verifyLegacyPassword(`${f.password}!`, f.hash), bytes >= 72 && f.scheme === 'BLF-CRYPT');
      assert.equal(await verifyLegacyPassword(f.password.toUpperCase(), f.hash), false);
      assert.equal(await verifyLegacyPassword('wrong-password', f.hash), false);
    });
  }

  it('takes Dovecot hashes with or without their {SCHEME} prefix', async () => {
    for (const f of fixtures.filter((candidate) => candidate.tool === 'doveadm')) {
      assert.equal(await verifyLegacyPassword(f.password, withoutPrefix(f.hash)), true, f.hash);
    }
    for (const f of fixtures.filter((candidate) => candidate.tool === 'mkpasswd')) {
      assert.equal(await verifyLegacyPassword(f.password, `{${f.scheme}}${f.hash}`), true, f.hash);
    }
  });

  it('reads the prefix case-insensitively, as Dovecot does', async () => {
    const f = fixture((candidate) => candidate.tool === 'doveadm' && candidate.scheme === 'SHA512-CRYPT');
    assert.equal(await verifyLegacyPassword(f.password, f.hash.replace('{SHA512-CRYPT}', '{sha512-crypt}')), true);
  });

  it('refuses a hash whose prefix names another scheme', async () => {
    const sha512 = fixture((candidate) => candidate.tool === 'doveadm' && candidate.scheme === 'SHA512-CRYPT');
    const bcrypt = fixture((candidate) => candidate.tool === 'doveadm' && candidate.scheme === 'BLF-CRYPT');
    assert.equal(await verifyLegacyPassword(sha512.password, `{SHA256-CRYPT}${withoutPrefix(sha512.hash)}`), false);
    assert.equal(await verifyLegacyPassword(sha512.password, `{CRYPT}${withoutPrefix(sha512.hash)}`), false);
    assert.equal(await verifyLegacyPassword(bcrypt.password, `{ARGON2ID}${withoutPrefix(bcrypt.hash)}`), false);
  });

  it('uses only the first 72 bytes of a bcrypt password, as crypt_blowfish does', async () => {
    const f = fixture((candidate) => candidate.scheme === 'BLF-CRYPT' && Buffer.byteLength(candidate.password) > 72);
    assert.equal(await verifyLegacyPassword(`${f.password.slice(0, 72)}-different-tail`, f.hash), true);
    assert.equal(await verifyLegacyPassword(f.password.slice(0, 71), f.hash), false);
  });
});

describe('malformed legacy hashes never verify and never throw', () => {
  const sha512 = fixture((f) => f.tool === 'doveadm' && f.scheme === 'SHA512-CRYPT');
  const sha256 = fixture((f) => f.tool === 'doveadm' && f.scheme === 'SHA256-CRYPT');
  const bcrypt = fixture((f) => f.tool === 'doveadm' && f.scheme === 'BLF-CRYPT');
  const argon2 = fixture((f) => f.tool === 'doveadm' && f.scheme === 'ARGON2ID');
  const bare = (f: LegacyFixture) => withoutPrefix(f.hash);
  const cases: readonly [string, LegacyFixture, string][] = [
    ['SHA-512 hash cut short', sha512, bare(sha512).slice(0, -1)],
    ['SHA-512 hash one character longer', sha512, `${bare(sha512)}a`],
    ['SHA-512 hash with a character outside crypt base-64', sha512, `${bare(sha512).slice(0, -1)}-`],
    ['SHA-256 hash with the length of a SHA-512 one', sha256, `$5$${bare(sha512).slice(3)}`],
    ['SHA-crypt salt longer than 16 characters', sha512, bare(sha512).replace('$6$', '$6$abcdefghijklmnopq')],
    ['SHA-crypt rounds below the minimum of 1000', sha512, bare(sha512).replace('$6$', '$6$rounds=999$')],
    ['SHA-crypt rounds with a leading zero', sha512, bare(sha512).replace('$6$', '$6$rounds=05000$')],
    ['SHA-crypt rounds above our limit', sha512, bare(sha512).replace('$6$', '$6$rounds=999999999$')],
    ['SHA-crypt with an empty rounds value', sha512, bare(sha512).replace('$6$', '$6$rounds=$')],
    ['SHA-crypt without a hash part', sha512, '$6$saltsalt'],
    ['bcrypt cost 31', bcrypt, bare(bcrypt).replace('$05$', '$31$')],
    ['bcrypt cost 03', bcrypt, bare(bcrypt).replace('$05$', '$03$')],
    ['bcrypt $2x$ (crypt_blowfish bug-compatible mode)', bcrypt, bare(bcrypt).replace('$2y$', '$2x$')],
    ['bcrypt hash cut short', bcrypt, bare(bcrypt).slice(0, -1)],
    ['Argon2id version 16', argon2, bare(argon2).replace('v=19', 'v=16')],
    ['Argon2id without version', argon2, bare(argon2).replace('v=19$', '')],
    ['Argon2id memory of 1 GiB', argon2, bare(argon2).replace('m=65536', 'm=1048576')],
    ['Argon2id memory below 8 KiB per lane', argon2, bare(argon2).replace('m=65536', 'm=7')],
    ['Argon2id with zero passes', argon2, bare(argon2).replace('t=3', 't=0')],
    ['Argon2id with parameters out of order', argon2, bare(argon2).replace('m=65536,t=3', 't=3,m=65536')],
    ['Argon2id with padded base-64', argon2, `${bare(argon2)}=`],
    ['Argon2id with a tag cut to 12 bytes', argon2, bare(argon2).replace(/\$[^$]+$/, '$AAAAAAAAAAAAAAAA')],
    ['argon2i, a scheme we do not take', argon2, bare(argon2).replace('$argon2id$', '$argon2i$')],
    ['MD5-crypt, a scheme we do not take', sha512, '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/'],
    ['a plain-text {PLAIN} password', sha512, '{PLAIN}fixture-password'],
    ['an empty string', sha512, ''],
    ['a prefix alone', sha512, '{SHA512-CRYPT}'],
    ['an unclosed prefix', sha512, `{SHA512-CRYPT${bare(sha512)}`],
  ];
  for (const [description, source, stored] of cases) {
    it(description, async () => {
      assert.equal(await verifyLegacyPassword(source.password, stored), false);
    });
  }
});

describe('constant-time comparison', () => {
  it('compares computed and stored SHA-crypt and Argon2id hashes with crypto.timingSafeEqual', async (t) => {
    // The module imported timingSafeEqual by name: syncBuiltinESMExports makes
    // that binding see the spy. bcrypt compares inside hash-wasm's WASM instead.
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'ARGON2ID']) {
      const f = fixture((candidate) => candidate.scheme === scheme);
      for (const attempt of [f.password, 'wrong-password']) {
        spy.mock.resetCalls();
        await verifyLegacyPassword(attempt, f.hash);
        assert.equal(spy.mock.callCount(), 1, `${scheme}: timingSafeEqual calls`);
        const [computed, stored] = spy.mock.calls[0]!.arguments as [Uint8Array, Uint8Array];
        assert.equal(computed.length, stored.length);
      }
    }
  });
});

/**
 * Fresh hashes from the real tools on every run. Each entry names the tool's
 * arguments; the password goes in separately so that no test name shows it.
 */
interface LiveCase {
  readonly description: string;
  readonly args: readonly string[];
  readonly password: string;
}

const LIVE_PASSWORDS = {
  ascii: 'live-test-password',
  unicode: 'live-tëst-pässwörd-✓',
  bytes32: 'live-test-password-32-bytes-long',
  bytes64: 'live-test-password-of-exactly-sixty-four-bytes-in-utf-8-encoding',
  bytes73: 'live-test-password-longer-than-bcrypt-reads-seventy-two-bytes-and-more!!',
} as const;

const doveadmMissing = requireTool('doveadm', 'dovecot-core');
const mkpasswdMissing = requireTool('mkpasswd', 'whois');

describe('hashes the real tools make now', () => {
  const doveadmCases: LiveCase[] = [
    ...(['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID'] as const).flatMap((scheme) => [
      { description: `${scheme}, ASCII password`, args: ['-s', scheme], password: LIVE_PASSWORDS.ascii },
      { description: `${scheme}, non-ASCII password`, args: ['-s', scheme], password: LIVE_PASSWORDS.unicode },
    ]),
    { description: 'SHA512-CRYPT, 64-byte password', args: ['-s', 'SHA512-CRYPT'], password: LIVE_PASSWORDS.bytes64 },
    { description: 'SHA256-CRYPT, 32-byte password', args: ['-s', 'SHA256-CRYPT'], password: LIVE_PASSWORDS.bytes32 },
    { description: 'SHA512-CRYPT, rounds=6000', args: ['-s', 'SHA512-CRYPT', '-r', '6000'], password: LIVE_PASSWORDS.ascii },
    { description: 'SHA256-CRYPT, rounds=6000', args: ['-s', 'SHA256-CRYPT', '-r', '6000'], password: LIVE_PASSWORDS.ascii },
    { description: 'BLF-CRYPT, cost 6, 73-byte password', args: ['-s', 'BLF-CRYPT', '-r', '6'], password: LIVE_PASSWORDS.bytes73 },
  ];
  for (const live of doveadmCases) {
    it(`doveadm pw ${live.description}`, { skip: doveadmMissing }, async () => {
      const hash = execFileSync('doveadm', ['pw', ...live.args, '-p', live.password], { encoding: 'utf8' }).trim();
      assert.match(hash, /^\{[A-Z0-9-]+\}\$/);
      assert.equal(await verifyLegacyPassword(live.password, hash), true, hash);
      assert.equal(await verifyLegacyPassword(live.password, withoutPrefix(hash)), true, hash);
      assert.equal(await verifyLegacyPassword(`x${live.password}`, hash), false, hash);
    });
  }

  const mkpasswdCases: LiveCase[] = [
    ...(['sha-512', 'sha-256', 'bcrypt', 'bcrypt-a'] as const).flatMap((method) => [
      { description: `-m ${method}, ASCII password`, args: ['-m', method], password: LIVE_PASSWORDS.ascii },
      { description: `-m ${method}, non-ASCII password`, args: ['-m', method], password: LIVE_PASSWORDS.unicode },
    ]),
    { description: '-m sha-512, 64-byte password', args: ['-m', 'sha-512'], password: LIVE_PASSWORDS.bytes64 },
    { description: '-m sha-256, 32-byte password', args: ['-m', 'sha-256'], password: LIVE_PASSWORDS.bytes32 },
    { description: '-m sha-512 -R 3000', args: ['-m', 'sha-512', '-R', '3000'], password: LIVE_PASSWORDS.ascii },
    { description: '-m sha-256 -R 3000', args: ['-m', 'sha-256', '-R', '3000'], password: LIVE_PASSWORDS.ascii },
    { description: '-m bcrypt, 73-byte password', args: ['-m', 'bcrypt'], password: LIVE_PASSWORDS.bytes73 },
  ];
  for (const live of mkpasswdCases) {
    it(`mkpasswd ${live.description}`, { skip: mkpasswdMissing }, async () => {
      // --stdin keeps the password off the command line.
      const hash = execFileSync('mkpasswd', [...live.args, '--stdin'], { input: live.password, encoding: 'utf8' }).trim();
      assert.match(hash, /^\$(?:5|6|2[aby])\$/);
      assert.equal(await verifyLegacyPassword(live.password, hash), true, hash);
      assert.equal(await verifyLegacyPassword(`x${live.password}`, hash), false, hash);
    });
  }
});
