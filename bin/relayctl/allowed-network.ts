import net from 'node:net';
import { CliError, ExitCode } from './cli-error.ts';

/**
 * A client network for a user's `allowedNetworks`, as canonical CIDR text
 * (`192.0.2.0/24`, `2001:db8::/32`); a bare address is one host (/32, /128).
 *
 * A block with host bits set (`10.1.2.3/8`) is refused, not masked: whoever
 * wrote it meant either the host or the network, and guessing the network
 * would silently let a whole /8 in.
 */
export function parseAllowedNetwork(text: string): string {
  const invalid = (why: string) => new CliError(ExitCode.invalidInput, `invalid network "${text}": ${why}`);
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const family = net.isIPv4(addressText) ? 4 : net.isIPv6(addressText) && !addressText.includes('%') ? 6 : 0;
  if (family === 0) throw invalid('not an IPv4 or IPv6 address (give it as 192.0.2.0/24 or 2001:db8::/32)');
  const bits = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > bits) {
    throw invalid(`the prefix length must be 0 to ${bits}`);
  }
  const prefix = Number(prefixText);
  const address = family === 4 ? addressText : new URL(`http://[${addressText}]/`).hostname.slice(1, -1);
  const value = family === 4 ? ipv4Value(address) : ipv6Value(address);
  const hostBits = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostBits) !== 0n) {
    throw invalid(`host bits are set after /${prefix}; give the network (${formatAddress(value & ~hostBits, family)}/${prefix}) or the host (${address}/${bits})`);
  }
  // The same check the policy's BlockList applies when it loads the setting.
  new net.BlockList().addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return `${address}/${prefix}`;
}

function ipv4Value(address: string): bigint {
  return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
}

/** `address` is in the compressed lower-case form the URL parser writes: hex groups, at most one `::`. */
function ipv6Value(address: string): bigint {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const written = [...groups(head), ...(tail === undefined ? [] : Array(8 - groups(head).length - groups(tail).length).fill('0')), ...groups(tail ?? '')];
  return written.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

function formatAddress(value: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, index) => ((value >> BigInt(112 - 16 * index)) & 0xffffn).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
