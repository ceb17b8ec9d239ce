/**
 * Benchmark child: the relay's local stack (real front end, real policy
 * handler, called directly) in a process of its own, so that its CPU and
 * memory are measured apart from the load generator. DynamoDB and SES are the
 * stand-ins of `aws-standins.ts`, in another process (argv: dataDir, SES
 * endpoint, DynamoDB endpoint); the SES stand-in the local stack starts itself
 * idles.
 *
 * Policy calls are counted here, in bench code only, by a PolicyClient wrapped
 * beneath the relay's permit cache: the calls that would be Lambda invocations
 * in AWS. DynamoDB requests are counted by the stand-in.
 */
import { canonicalGrant } from '../../lambda/mail-address.ts';
import { hashPassword } from '../../lambda/password-hash.ts';
import type { PolicyClient, PolicyRequest } from '../../lambda/policy-contract.ts';
import { startLocalStack } from '../../relay/local/local-stack.ts';
import { announce, serveControl } from './bench-child.ts';

const [dataDir, sesEndpoint, dynamoEndpoint] = process.argv.slice(2);
if (!dataDir || !sesEndpoint || !dynamoEndpoint) throw new Error('usage: relay-process.ts <dataDir> <sesEndpoint> <dynamoEndpoint>');

const counts = { authenticate: 0, authorizeSender: 0, confirmSession: 0 };
const counting = (inner: PolicyClient): PolicyClient => ({
  decide: (request) => {
    counts[(request as PolicyRequest).action]++;
    return inner.decide(request);
  },
});

const stack = await startLocalStack({
  dataDir,
  dynamoInMemory: true,
  sesInMemory: true,
  sesEndpoint,
  dynamoEndpoint,
  wrapPolicy: counting,
  env: {
    ...process.env,
    RELAY_LISTEN: '127.0.0.1',
    SUBMISSION_PORT: '0',
    SUBMISSIONS_PORT: '0',
    RELAY_HOSTNAME: 'localhost',
  },
});

serveControl(
  {
    async 'add-user'(payload) {
      const { login, password, grants } = payload as { login: string; password: string; grants: string[] };
      await stack.store.createUser(login, await hashPassword(password));
      for (const grant of grants) {
        await stack.store.putSender({ grant: canonicalGrant(grant) ?? grant, owner: login, createdAt: new Date().toISOString() });
      }
      return true;
    },
    counters: () => ({ ...counts }),
    connections: () => stack.relay.connections(),
  },
  () => stack.close(),
);

announce({
  submissionPort: stack.relay.submissionPort,
  submissionsPort: stack.relay.submissionsPort,
  certPath: stack.certPath,
  maxMessageBytes: stack.settings.MAX_MESSAGE_BYTES,
  policyCacheSeconds: stack.settings.POLICY_CACHE_SECONDS,
});
