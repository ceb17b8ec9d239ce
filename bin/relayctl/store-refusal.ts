import { CliError, type ExitCodeValue } from './cli-error.ts';

/**
 * Runs one conditional write and turns the store's refusal into relayctl's
 * answer. The checks a command makes before writing give the precise message;
 * this covers the race where another writer got there between check and write.
 */
export async function refusedAs<T>(write: Promise<T>, exitCode: ExitCodeValue, message: string): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (await isStoreConflict(error)) throw new CliError(exitCode, message);
    throw error;
  }
}

/** Whether the store refused a conditional write (the item exists, or must exist and does not). */
export async function isStoreConflict(error: unknown): Promise<boolean> {
  // Loaded here, once a write has failed, so that modules using this load no AWS SDK
  // at start-up: `--help` and refused input answer without it.
  const { StoreConflictError } = await import('../../lambda/user-store.ts');
  return error instanceof StoreConflictError;
}
