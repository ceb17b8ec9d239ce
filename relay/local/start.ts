/**
 * `npm start`: the whole relay on this machine, no AWS account needed.
 * See local-stack.ts for what runs; settings come from the environment
 * (README, "Settings").
 */
import path from 'node:path';
import { exitWithStartupFailure } from '../startup-failure.ts';
import { startLocalStack } from './local-stack.ts';

// The AWS SDK warns that it will drop Node 20 in 2027; the container runs Node 22,
// and a person trying the relay here needs no such warning. Their own setting wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const dataDir = path.resolve(process.env.RELAY_DATA_DIR || '.relay');
// A second relay on the same users (one more "task"): point it at the DynamoDB
// stand-in of a running `npm start` instead of starting its own.
const dynamoEndpoint = process.env.RELAY_DYNAMODB_ENDPOINT || undefined;
const stack = await startLocalStack({ dataDir, ...(dynamoEndpoint ? { dynamoEndpoint } : {}) }).catch((error: unknown) =>
  exitWithStartupFailure('npm start', error),
);
const { relay, settings } = stack;
const host = settings.RELAY_LISTEN;

process.stderr.write(
  [
    '',
    'Submission relay running (local stack)',
    `  submission  (STARTTLS)      smtp://${host}:${relay.submissionPort}`,
    `  submissions (implicit TLS)  smtps://${host}:${relay.submissionsPort}`,
    `  outbox (what SES accepted)  ${stack.outboxDir}`,
    `  TLS certificate             ${stack.certPath}`,
    `  DynamoDB (dynalite)         ${stack.dynamoEndpoint}`,
    `  SES v2 endpoint             ${stack.ses.url}`,
    '',
    'Add a user (in another shell):',
    `  npx relayctl user add john@example.org --password-stdin`,
    'Send a test mail:',
    `  swaks --server ${host}:${relay.submissionPort} --tls --auth PLAIN --auth-user john@example.org --auth-password '<password>' --from john@example.org --to someone@example.net`,
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n${signal}: stopping, letting open transactions finish\n`);
  stack.close(settings.SHUTDOWN_GRACE_SECONDS * 1000).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`error while stopping: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
