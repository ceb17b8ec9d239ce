/**
 * CDK app of the submission relay: `npx cdk synth -c stage=prod` (default dev).
 * Stage settings live in cdk.json under "submission-relay:stages".
 */
import { App } from 'aws-cdk-lib';
import { buildRelayApp } from '../lib/build-relay-app.ts';

const app = new App();
buildRelayApp(app);
app.synth();
