#!/usr/bin/env node
// relayctl's executable: registers tsx so the TypeScript sources run as they
// are (no build step), then hands over to bin/relayctl/main.ts.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every run that it will drop Node 20 in 2027; an
// operator's tool should print only its own results and errors. An explicit
// setting in the environment still wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
await import('./relayctl/main.ts');
