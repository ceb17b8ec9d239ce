import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root (the parent of `relay/`): where npm runs `npm start`, whichever folder it was typed in. */
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The local stack's data dir: `RELAY_DATA_DIR`, else `.relay`. A relative path
 * is taken from the project root, where `npm start` takes it, so that relayctl
 * typed in any subfolder finds the same store as the relay.
 */
export function localDataDir(env: NodeJS.ProcessEnv): string {
  return path.resolve(PROJECT_ROOT, env.RELAY_DATA_DIR || '.relay');
}
