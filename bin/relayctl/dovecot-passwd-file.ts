import { parseMailAddress } from '../../lambda/mail-address.ts';
import type { PlanEntry } from './import-plan.ts';
import { classifyPasswordHash, UNVERIFIABLE_HINT } from './password-scheme.ts';

/**
 * The users of a Dovecot passwd-file: `user:{SCHEME}hash:uid:gid:gecos:home:shell:extra`,
 * or just `user:{SCHEME}hash`; `#` starts a comment line. A user name without
 * a domain (files kept per domain, `args = /etc/dovecot/%d.passwd`) gets
 * `domain` (canonical), if one is given. The other fields say where mail is
 * stored and mean nothing to a relay.
 */
export function planDovecotImport(text: string, domain: string | undefined): PlanEntry[] {
  const entries: PlanEntry[] = [];
  const firstLine = new Map<string, number>();
  for (const [index, rawLine] of text.split('\n').entries()) {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const origin = `line ${index + 1}`;
    const [name = '', passwordHash = ''] = line.split(':');
    const user = name.trim();
    if (!user.includes('@') && domain === undefined) {
      entries.push({ kind: 'user', address: user, skip: 'the user name has no domain: give --domain for a passwd-file per domain', origin });
      continue;
    }
    const parsed = parseMailAddress(user.includes('@') ? user : `${user}@${domain}`);
    if (!parsed.ok) {
      entries.push({ kind: 'user', address: user, skip: `not a valid address (${parsed.problem})`, origin });
      continue;
    }
    const earlier = firstLine.get(parsed.address);
    if (earlier !== undefined) {
      entries.push({ kind: 'user', address: parsed.address, skip: `listed already on line ${earlier}`, origin });
      continue;
    }
    firstLine.set(parsed.address, index + 1);
    const kind = classifyPasswordHash(passwordHash);
    entries.push(
      kind.verifiable
        ? { kind: 'user', address: parsed.address, passwordHash, scheme: kind.scheme, origin }
        : { kind: 'user', address: parsed.address, skip: `${kind.reason}; ${UNVERIFIABLE_HINT}`, origin },
    );
  }
  return entries;
}
