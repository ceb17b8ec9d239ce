/**
 * CDK app of the submission relay: `npx cdk synth -c stage=prod` (default dev).
 * Stage settings live in cdk.json under "submission-relay:stages".
 */
import { App } from 'aws-cdk-lib';
import { buildRelayApp } from '../lib/build-relay-app.ts';
import { StageConfigError } from '../lib/stage-config.ts';

const app = new App();
try {
  buildRelayApp(app);
} catch (error) {
  // A mistake in cdk.json or -c stage=: the setting and the fix, not a stack trace.
  if (!(error instanceof StageConfigError)) throw error;
  process.stderr.write(error.lines.map((line) => `cdk app: ${line}\n`).join(''));
  process.exit(1);
}
app.synth();
