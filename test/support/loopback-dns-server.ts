import dgram from 'node:dgram';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import dnsPacket from 'dns-packet';

/** How the server answers for one name. */
export type ZoneEntry =
  | { readonly mx?: ReadonlyArray<{ preference: number; exchange: string }>; readonly a?: readonly string[]; readonly aaaa?: readonly string[] }
  | 'nxdomain'
  | 'servfail'
  | 'silent';

export interface LoopbackDnsServer {
  /** `127.0.0.1:<port>`, for a resolver's server list. */
  readonly address: string;
  /** Queries received, as `TYPE name`. */
  readonly queries: string[];
  close(): Promise<void>;
}

/**
 * A real DNS server on loopback (UDP), answering from a fixed zone, so that
 * the relay's lookups go through Node's resolver and the wire protocol, not a
 * stubbed function. Names not in the zone get NXDOMAIN.
 */
export async function startLoopbackDnsServer(zone: Readonly<Record<string, ZoneEntry>>): Promise<LoopbackDnsServer> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (message, remote) => {
    const query = dnsPacket.decode(message);
    const question = query.questions?.[0];
    if (!question) return;
    queries.push(`${question.type} ${question.name}`);
    const entry = zone[question.name.toLowerCase()] ?? 'nxdomain';
    if (entry === 'silent') return;
    const answers: dnsPacket.Answer[] = [];
    if (typeof entry === 'object') {
      if (question.type === 'MX') {
        for (const mx of entry.mx ?? []) answers.push({ type: 'MX', name: question.name, ttl: 60, data: mx });
      } else if (question.type === 'A') {
        for (const a of entry.a ?? []) answers.push({ type: 'A', name: question.name, ttl: 60, data: a });
      } else if (question.type === 'AAAA') {
        for (const aaaa of entry.aaaa ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: 60, data: aaaa });
      }
    }
    const rcode = entry === 'nxdomain' ? 'NXDOMAIN' : entry === 'servfail' ? 'SERVFAIL' : 'NOERROR';
    const response = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcodeFlag(rcode),
      questions: query.questions,
      answers,
    });
    socket.send(response, remote.port, remote.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    address: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

function rcodeFlag(rcode: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL'): number {
  return { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 }[rcode];
}
