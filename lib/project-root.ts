import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root (the parent of `lib/`): the image build context and the base of default entry paths. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
