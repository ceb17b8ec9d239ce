import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAllowedNetwork } from '../../bin/relayctl/allowed-network.ts';
import { CliError } from '../../bin/relayctl/cli-error.ts';
import { changedSettings } from '../../bin/relayctl/user-settings-change.ts';

// In-process: the many variants of `user set` input, without a process each.
// relayctl-users.test.ts runs the real CLI for one of each kind.

function refusal(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    assert.ok(error instanceof CliError, String(error));
    assert.equal(error.exitCode, 1);
    return error.message;
  }
  assert.fail('expected a refusal');
}

describe('allowed networks', () => {
  test('canonical CIDR for IPv4, IPv6 and bare addresses', () => {
    const cases: Array<[string, string]> = [
      ['192.0.2.0/24', '192.0.2.0/24'],
      ['198.51.100.7', '198.51.100.7/32'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['2001:DB8::/32', '2001:db8::/32'],
      ['2001:0db8:0000:0000:0000:0000:0000:0000/32', '2001:db8::/32'],
      ['::1', '::1/128'],
      ['::/0', '::/0'],
      ['fe80::/10', 'fe80::/10'],
      ['::ffff:192.0.2.0/120', '::ffff:c000:200/120'],
    ];
    for (const [input, expected] of cases) assert.equal(parseAllowedNetwork(input), expected, input);
  });

  test('refuses what is no network, and a block with host bits set', () => {
    const cases: Array<[string, RegExp]> = [
      ['10.0.0.0/33', /prefix length must be 0 to 32/],
      ['2001:db8::/129', /prefix length must be 0 to 128/],
      ['192.0.2.0/024', /prefix length/],
      ['192.0.2.0/', /prefix length/],
      ['192.0.2.0/-1', /prefix length/],
      ['300.1.1.1/32', /not an IPv4 or IPv6 address/],
      ['010.0.0.1/32', /not an IPv4 or IPv6 address/],
      ['fe80::1%eth0/64', /not an IPv4 or IPv6 address/],
      ['example.org/24', /not an IPv4 or IPv6 address/],
      ['', /not an IPv4 or IPv6 address/],
      ['10.1.2.3/8', /give the network \(10\.0\.0\.0\/8\) or the host \(10\.1\.2\.3\/32\)/],
      ['192.0.2.1/31', /give the network \(192\.0\.2\.0\/31\)/],
      ['2001:db8::1/32', /give the network \(2001:db8::\/32\) or the host \(2001:db8::1\/128\)/],
      ['2001:db8:0:1::/48', /give the network \(2001:db8::\/48\)/],
    ];
    for (const [input, pattern] of cases) assert.match(refusal(() => parseAllowedNetwork(input)), pattern, input);
  });
});

describe('user set changes', () => {
  test('adds to tags and networks, replaces after a clear, keeps what it is not told about', () => {
    const current = {
      configurationSet: 'old-set',
      messageTags: { team: 'a' },
      allowedNetworks: ['192.0.2.0/24'],
      limits: { messagesPerMinute: 5, recipientsPerDay: 100 },
    };
    assert.deepEqual(changedSettings(current, { tag: ['env=prod'], allowNetwork: ['192.0.2.0/24', '2001:db8::/32'], recipientsPerDay: '7' }), {
      configurationSet: 'old-set',
      messageTags: { team: 'a', env: 'prod' },
      allowedNetworks: ['192.0.2.0/24', '2001:db8::/32'],
      limits: { messagesPerMinute: 5, recipientsPerDay: 7 },
    });
    assert.deepEqual(changedSettings(current, { clearTags: true, tag: ['team=b', 'empty='], clearNetworks: true, clearLimits: true, configurationSet: false }), {
      messageTags: { team: 'b', empty: '' },
    });
    assert.deepEqual(changedSettings(current, { clearTags: true, clearNetworks: true, clearLimits: true, configurationSet: false }), {});
  });

  test('refuses invalid names, values and numbers, and a change of nothing', () => {
    const cases: Array<[Parameters<typeof changedSettings>[1], RegExp]> = [
      [{}, /nothing to change/],
      [{ tag: [], allowNetwork: [] }, /nothing to change/],
      [{ tag: ['team'] }, /invalid tag "team"/],
      [{ tag: ['=value'] }, /invalid tag/],
      [{ tag: ['bad name=x'] }, /invalid tag/],
      [{ tag: ['name=bad:value'] }, /invalid tag/],
      [{ tag: [`${'n'.repeat(257)}=v`] }, /invalid tag/],
      [{ tag: [`n=${'v'.repeat(257)}`] }, /invalid tag/],
      [{ configurationSet: 'has space' }, /invalid configuration set/],
      [{ configurationSet: 'c'.repeat(65) }, /invalid configuration set/],
      [{ configurationSet: '' }, /invalid configuration set/],
      [{ messagesPerMinute: '01' }, /invalid --messages-per-minute "01"/],
      [{ messagesPerMinute: '-3' }, /invalid --messages-per-minute/],
      [{ recipientsPerDay: '1.5' }, /invalid --recipients-per-day/],
      [{ recipientsPerDay: '1e3' }, /invalid --recipients-per-day/],
      [{ recipientsPerDay: '1000000000' }, /invalid --recipients-per-day/],
      [{ allowNetwork: ['10.1.2.3/8'] }, /host bits are set/],
    ];
    for (const [options, pattern] of cases) assert.match(refusal(() => changedSettings({}, options)), pattern, JSON.stringify(options));
    assert.equal(changedSettings({}, { messagesPerMinute: '0' }).limits?.messagesPerMinute, 0, '0 is no limit for this user');
    assert.equal(changedSettings({}, { tag: [`${'n'.repeat(256)}=${'v'.repeat(256)}`] }).messageTags?.['n'.repeat(256)], 'v'.repeat(256), 'exactly 256 is allowed');
  });
});
