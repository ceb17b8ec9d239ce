import type { UserStore } from '../../lambda/user-store.ts';
import { claimOfRecord, describeClaim } from './address-claim.ts';
import type { PlanEntry } from './import-plan.ts';
import { isStoreConflict } from './store-refusal.ts';

/**
 * - `imported` / `would-import` (dry run): written, or would be.
 * - `exists`: the store holds it already (an earlier run, or a user whose
 *   password has changed since, which the import leaves alone).
 * - `skipped`: the source asks for something the relay cannot take (reason given).
 * - `conflict`: the store gives the address to someone else; nothing is changed.
 */
export type ImportStatus = 'imported' | 'would-import' | 'exists' | 'skipped' | 'conflict';

/** One line of an import's report. Holds no password hash. */
export interface ImportEntry {
  readonly kind: PlanEntry['kind'];
  readonly address: string;
  readonly target?: string;
  readonly scheme?: string;
  readonly status: ImportStatus;
  readonly reason?: string;
  readonly origin: string;
}

/**
 * Writes a plan into the store, entry by entry, each a single conditional
 * write, so that an interrupted import can simply be run again: what it wrote
 * before is found as `exists`. With `dryRun` it only reads.
 */
export async function applyImportPlan(
  store: UserStore,
  plan: readonly PlanEntry[],
  options: { readonly dryRun: boolean; readonly onEntry?: () => void },
): Promise<ImportEntry[]> {
  const entries: ImportEntry[] = [];
  const createdAt = new Date().toISOString();
  for (const planned of plan) {
    const report = (status: ImportStatus, reason?: string): ImportEntry => ({
      kind: planned.kind,
      address: planned.address,
      ...(planned.target !== undefined ? { target: planned.target } : {}),
      ...(planned.scheme !== undefined ? { scheme: planned.scheme } : {}),
      status,
      ...(reason !== undefined ? { reason } : {}),
      origin: planned.origin,
    });
    const write = async (work: () => Promise<void>): Promise<ImportEntry> => {
      if (options.dryRun) return report('would-import');
      try {
        await work();
        return report('imported');
      } catch (error) {
        if (await isStoreConflict(error)) return report('conflict', 'written by someone else meanwhile');
        throw error;
      }
    };
    entries.push(
      planned.skip !== undefined
        ? report('skipped', planned.skip)
        : planned.kind === 'user'
          ? await applyUser(store, planned, report, write)
          : await applySender(store, planned, report, write, createdAt),
    );
    options.onEntry?.();
  }
  return entries;
}

type Report = (status: ImportStatus, reason?: string) => ImportEntry;
type Write = (work: () => Promise<void>) => Promise<ImportEntry>;

async function applyUser(store: UserStore, planned: PlanEntry, report: Report, write: Write): Promise<ImportEntry> {
  const existing = await store.getUser(planned.address);
  if (existing) {
    return existing.passwordHash === planned.passwordHash
      ? report('exists')
      : report('exists', 'with another password (rehashed at a login, or changed since); left as it is');
  }
  const granted = await store.getSender(planned.address);
  if (granted) return report('conflict', `${describeClaim(planned.address, claimOfRecord(granted))} as a sender`);
  return write(async () => {
    await store.createUser(planned.address, planned.passwordHash!);
  });
}

async function applySender(store: UserStore, planned: PlanEntry, report: Report, write: Write, createdAt: string): Promise<ImportEntry> {
  const target = planned.target!;
  if (!planned.address.startsWith('@') && (await store.getUser(planned.address))) {
    return report('conflict', `${planned.address} is the login of a user`);
  }
  const existing = await store.getSender(planned.address);
  if (existing) {
    const same = planned.kind === 'alias' ? 'aliasOf' in existing && existing.aliasOf === target : 'owner' in existing && existing.owner === target;
    return same ? report('exists') : report('conflict', describeClaim(planned.address, claimOfRecord(existing)));
  }
  return write(() =>
    store.putSender(
      planned.kind === 'alias' ? { grant: planned.address, aliasOf: target, createdAt } : { grant: planned.address, owner: target, createdAt },
    ),
  );
}
