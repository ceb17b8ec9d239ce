import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { assertPrivate, createOwnerOnlyFiles } from '../private-path.ts';

/**
 * What of the local stack's data dir holds secrets: the users table
 * (dynalite's leveldb files: password hashes), the TLS key, and the outbox
 * (every message sent). Each folder must be its owner's alone, and so must
 * each store file, or the stack refuses to start.
 */
const PRIVATE_FOLDERS = [
  { name: 'dynamodb', what: 'users store (password hashes)', checkFiles: true },
  { name: 'tls', what: 'TLS folder', checkFiles: false },
  { name: 'outbox', what: 'outbox (messages sent)', checkFiles: false },
] as const;

/**
 * Makes `dataDir` owner-only if it is new, and refuses to go on when any
 * secret in it is open to group or others, naming the first one found and the
 * one command that fixes them all. From here on, everything this process
 * creates is owner-only (umask 077): leveldb makes new files as it compacts.
 */
export async function ensurePrivateLocalState(dataDir: string): Promise<void> {
  // Not checked itself: it may be shared (a home, /tmp); what matters is that its secrets are not.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const fix = `chmod -R go= ${dataDir}`;
  for (const folder of PRIVATE_FOLDERS) {
    const dir = path.join(dataDir, folder.name);
    const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!entries) continue;
    await assertPrivate(dir, folder.what, fix);
    if (!folder.checkFiles) continue;
    for (const entry of entries) {
      if (entry.isFile()) await assertPrivate(path.join(dir, entry.name), `${folder.what} file`, fix);
    }
  }
  createOwnerOnlyFiles();
}
