import type { SenderRecord, UserStore } from '../../lambda/user-store.ts';
import { ExitCode } from './cli-error.ts';
import { refusedAs } from './store-refusal.ts';

/** One address (or `@domain`) a user may send as, besides the login itself. */
export interface SenderEntry {
  readonly grant: string;
  /** `address`/`domain`: granted to the user; `alias`: points at another address that leads to the user. */
  readonly kind: 'address' | 'domain' | 'alias';
  /** For an alias, the address it points at: the login, or another grant or alias. */
  readonly aliasOf?: string;
  readonly createdAt: string;
}

/**
 * Every grant and alias that leads to `login`, nearest first: what the
 * policy's sender check would resolve to this user. Aliases of aliases are
 * followed through the owner index only as deep as the policy follows them.
 */
export async function sendersLeadingTo(store: UserStore, login: string): Promise<SenderEntry[]> {
  // The store module is loaded by now (`store` is one); importing it here keeps it out of start-up.
  const { MAX_ALIAS_DEPTH } = await import('../../lambda/user-store.ts');
  const entries: SenderEntry[] = [];
  const seen = new Set([login]);
  let targets = [login];
  for (let depth = 0; depth < MAX_ALIAS_DEPTH && targets.length > 0; depth++) {
    const next: string[] = [];
    for (const target of targets) {
      for (const record of await store.sendersOf(target)) {
        if (seen.has(record.grant)) continue;
        seen.add(record.grant);
        entries.push(entryOf(record));
        next.push(record.grant);
      }
    }
    targets = next;
  }
  return entries;
}

function entryOf(record: SenderRecord): SenderEntry {
  if ('aliasOf' in record) return { grant: record.grant, kind: 'alias', aliasOf: record.aliasOf, createdAt: record.createdAt };
  return { grant: record.grant, kind: record.grant.startsWith('@') ? 'domain' : 'address', createdAt: record.createdAt };
}

/**
 * The entry for `grant` and the aliases that reach the user through it: what
 * goes when the grant goes, since an alias left behind would follow the
 * address to whoever is granted it next.
 */
export function sendersThrough(senders: readonly SenderEntry[], grant: string): SenderEntry[] {
  // `senders` lists nearer entries first, so an alias comes after what it points at.
  const through = new Set<string>();
  const found: SenderEntry[] = [];
  for (const entry of senders) {
    if (entry.grant !== grant && !(entry.aliasOf !== undefined && through.has(entry.aliasOf))) continue;
    through.add(entry.grant);
    found.push(entry);
  }
  return found;
}

/** Removes entries of `login`'s tree, farthest first, so that no alias is ever left pointing at a removed entry. */
export async function removeSenders(store: UserStore, login: string, entries: readonly SenderEntry[]): Promise<void> {
  for (const entry of [...entries].reverse()) {
    await refusedAs(store.removeSender(entry.grant, entry.aliasOf ?? login), ExitCode.conflict, `${entry.grant} changed meanwhile; run the command again`);
  }
}

/** How an entry reads in human output. */
export function describeSender(entry: SenderEntry): string {
  return entry.kind === 'alias' ? `${entry.grant}  (alias of ${entry.aliasOf})` : `${entry.grant}  (${entry.kind})`;
}
