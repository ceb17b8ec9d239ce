/**
 * What an import source (a Dovecot passwd-file, an ISPmail dump) asks for,
 * read without touching the store: each entry is to be imported, or skipped
 * with the reason. Applying the plan (apply-import-plan.ts) then compares it
 * with the store, so a re-run finds its own earlier work as "exists".
 */
export interface PlanEntry {
  readonly kind: 'user' | 'alias' | 'domain-grant';
  /** The login, the alias address, or the granted `@domain`. */
  readonly address: string;
  /** For an alias, the address it points at; for a domain grant, its owner; for a skipped alias, its destinations. */
  readonly target?: string;
  /** For a user: the hash, stored as it is (the policy verifies it and rehashes at the next login). Never printed. */
  readonly passwordHash?: string;
  /** For a user: the hash's scheme, which is safe to show. */
  readonly scheme?: string;
  /** Why the entry is not imported; absent when it is to be imported. */
  readonly skip?: string;
  /** Where in the source it came from ("line 7", "virtual_aliases id 12"). */
  readonly origin: string;
}

export type ImportSource = 'dovecot' | 'ispmail';
