import { canonicalDomain, canonicalGrant, parseMailAddress } from '../../lambda/mail-address.ts';
import { MAX_ALIAS_DEPTH } from '../../lambda/user-store.ts';
import { CliError, ExitCode } from './cli-error.ts';
import type { PlanEntry } from './import-plan.ts';
import type { SqlRow } from './mysql-dump.ts';
import { classifyPasswordHash, UNVERIFIABLE_HINT } from './password-scheme.ts';

interface AliasGroup {
  readonly source: string;
  /** Canonical source, or undefined when it is no address or `@domain`. */
  readonly grant: string | undefined;
  /** Every destination of every row of this source, canonical where valid, in order, without repeats. */
  readonly destinations: string[];
  readonly ids: string[];
}

/**
 * What an ISPmail database means to the relay:
 * - `virtual_users`: users, keeping their hash as it is ({SHA512-CRYPT}, {BLF-CRYPT}, ...);
 * - `virtual_aliases`: an alias whose one destination is a user of the dump,
 *   or another alias that leads to one, becomes an alias record (its user may
 *   send as it); a catch-all (`@domain`) to one user becomes a grant of the
 *   domain to that user. Forwarders to other servers, aliases with several
 *   destinations (Postfix copies the mail to each; a sender belongs to one
 *   user) and aliases that lead nowhere are skipped with the reason;
 * - `virtual_domains`: the server's own domains, which tell a destination that
 *   does not exist here from one on another server in the skip reasons.
 * All rows of one source count together, as Postfix's lookup joins them.
 */
export function planIspmailImport(tables: ReadonlyMap<string, readonly SqlRow[]>, source: string): PlanEntry[] {
  const users = tables.get('virtual_users') ?? [];
  const column = (table: string, row: SqlRow, name: string): string => {
    const value = row[name];
    if (value === undefined) throw new CliError(ExitCode.invalidInput, `${source}: ${table} has no column ${name}; is it an ISPmail dump?`);
    return value ?? '';
  };
  const domains = new Set(
    (tables.get('virtual_domains') ?? []).map((row) => {
      const name = column('virtual_domains', row, 'name');
      return canonicalDomain(name) ?? name.toLowerCase();
    }),
  );

  const entries: PlanEntry[] = [];
  const logins = new Set<string>();
  for (const row of users) {
    const email = column('virtual_users', row, 'email');
    const passwordHash = column('virtual_users', row, 'password');
    const origin = `virtual_users id ${row.id ?? '?'}`;
    const parsed = parseMailAddress(email);
    if (!parsed.ok) {
      entries.push({ kind: 'user', address: email, skip: `not a valid address (${parsed.problem})`, origin });
      continue;
    }
    if (logins.has(parsed.address)) {
      entries.push({ kind: 'user', address: parsed.address, skip: 'listed already (the same address in another case)', origin });
      continue;
    }
    logins.add(parsed.address);
    const kind = classifyPasswordHash(passwordHash);
    entries.push(
      kind.verifiable
        ? { kind: 'user', address: parsed.address, passwordHash, scheme: kind.scheme, origin }
        : { kind: 'user', address: parsed.address, skip: `${kind.reason}; ${UNVERIFIABLE_HINT}`, origin },
    );
  }

  const groups = new Map<string, AliasGroup>();
  for (const row of tables.get('virtual_aliases') ?? []) {
    const sourceText = column('virtual_aliases', row, 'source').trim();
    const grant = canonicalGrant(sourceText);
    const key = grant ?? sourceText;
    const group = groups.get(key) ?? { source: sourceText, grant, destinations: [], ids: [] };
    groups.set(key, group);
    group.ids.push(row.id ?? '?');
    for (const destination of column('virtual_aliases', row, 'destination').split(',')) {
      const text = destination.trim();
      const canonical = canonicalGrant(text) ?? text;
      if (text !== '' && canonical !== grant && !group.destinations.includes(canonical)) group.destinations.push(canonical);
    }
  }

  /** Whether `address` reaches a user of the dump through aliases of one destination each. */
  const leadsToUser = (address: string, depth: number): boolean => {
    if (logins.has(address)) return true;
    const group = groups.get(address);
    if (!group || depth >= MAX_ALIAS_DEPTH || group.destinations.length !== 1) return false;
    return leadsToUser(group.destinations[0]!, depth + 1);
  };
  const nowhere = (destination: string): string => {
    if (destination.startsWith('@')) return `points at a whole domain (${destination}), not at one user`;
    const parsed = parseMailAddress(destination);
    if (!parsed.ok) return `its destination "${destination}" is not a valid address`;
    if (!domains.has(parsed.domain)) return `forwards to ${destination} on another server: a forwarder, not an address of a user here`;
    if (groups.has(destination)) return `points at the alias ${destination}, which leads to no single user here`;
    return `points at ${destination}, which is no user or alias here`;
  };

  for (const group of groups.values()) {
    const origin = `virtual_aliases id${group.ids.length > 1 ? 's' : ''} ${group.ids.join(', ')}`;
    const kind = group.grant?.startsWith('@') ? 'domain-grant' : 'alias';
    const skipped = (reason: string): PlanEntry => ({ kind, address: group.grant ?? group.source, target: group.destinations.join(', '), skip: reason, origin });
    const [destination, ...more] = group.destinations;
    if (group.grant === undefined) entries.push(skipped('the source is not a valid address or @domain'));
    else if (destination === undefined) entries.push(skipped('points at itself only (a copy kept in its own mailbox): nothing to grant'));
    else if (logins.has(group.grant)) entries.push(skipped('is the login of a user, who sends as it without a grant'));
    else if (more.length > 0) {
      entries.push(skipped('has several destinations, and an address is granted to one user only; grant it with relayctl sender grant'));
    } else if (kind === 'domain-grant') {
      if (logins.has(destination)) entries.push({ kind, address: group.grant, target: destination, origin });
      else if (groups.has(destination)) entries.push(skipped(`a catch-all becomes a grant to a user only, and this one points at the alias ${destination}; grant the domain to its user with relayctl sender grant`));
      else entries.push(skipped(`a catch-all becomes a grant to a user only, and this one ${nowhere(destination)}`));
    } else if (leadsToUser(destination, 1)) entries.push({ kind, address: group.grant, target: destination, origin });
    else entries.push(skipped(nowhere(destination)));
  }
  return entries;
}
