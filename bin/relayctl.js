#!/usr/bin/env node
// relayctl's executable: registers tsx so the TypeScript sources run as they
// are (no build step), then hands over to bin/relayctl/main.ts. tsx is a
// runtime dependency for this reason: Node 20 cannot strip types itself, and a
// prebuilt bundle would be a build artefact to keep in step with the sources.
// A production install (npm ci --omit=dev) therefore runs relayctl as it is.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every run that it will drop Node 20 in 2027; an
// operator's tool should print only its own results and errors. An explicit
// setting in the environment still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
await import('./relayctl/main.ts');
