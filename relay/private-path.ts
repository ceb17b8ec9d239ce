import { mkdir, stat } from 'node:fs/promises';

/**
 * A file or folder holding secrets (a TLS key, password hashes) that group or
 * others may read. Like OpenSSH with a key of mode 644, the relay refuses to
 * start with it: the secret has been exposed already, and a start-up that
 * carried on would hide that.
 */
export class ExposedSecretError extends Error {
  constructor(
    readonly path: string,
    readonly mode: number,
    what: string,
    fix: string,
  ) {
    super(`${what} ${path} is readable by group or others (mode ${mode.toString(8)}): ${fix}`);
    this.name = 'ExposedSecretError';
  }
}

/**
 * Refuses `target` when group or others have any access to it. `what` names it
 * for the message (`TLS key`); `fix` defaults to the chmod that makes it private.
 */
export async function assertPrivate(target: string, what: string, fix?: string): Promise<void> {
  const info = await stat(target);
  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ExposedSecretError(target, mode, what, fix ?? `chmod ${info.isDirectory() ? 700 : 600} ${target}`);
  }
}

/**
 * From here on, whatever this process creates is its owner's only (umask 077).
 * For stores whose files a library makes as it goes (leveldb compacts into new
 * files), since no mode can be handed to it.
 */
export function createOwnerOnlyFiles(): void {
  process.umask(process.umask() | 0o077);
}

/** Makes `dir` (and missing parents) owner-only, and refuses one that others can already enter. */
export async function ensurePrivateDir(dir: string, what: string, fix?: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await assertPrivate(dir, what, fix);
}
