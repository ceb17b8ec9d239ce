/**
 * Integration test a user runs against an AWS account (docs/deploying.md,
 * "Integration test against an account"): deploys a throwaway stage `integ`,
 * then asserts that the policy function answers and that the load balancer
 * completes a TLS handshake on 465 and a STARTTLS on 587, and destroys it.
 *
 * The stage needs a Route 53 public zone (ACM validates the certificate in
 * it, and the sending identity's records go there) and a prebuilt image:
 * RELAY_INTEG_ZONE_ID, RELAY_INTEG_ZONE_NAME, RELAY_INTEG_IMAGE. Without them
 * it synthesizes with placeholders: that is the committed snapshot, which CI
 * compares without deploying (test/integ/integ-snapshot.test.ts).
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { buildRelayApp } from '../../lib/build-relay-app.ts';
import { integContext } from './integ-stage.ts';

const app = new App({ context: integContext(process.env) });
const relay = buildRelayApp(app, { nag: false });
const service = relay.service;

// A client of the relay from the Internet side: dials the NLB like a mail client.
const probeStack = new Stack(app, 'SubmissionRelay-integ-Probe');
const probe = new lambda.Function(probeStack, 'TlsProbe', {
  runtime: lambda.Runtime.NODEJS_22_X,
  architecture: lambda.Architecture.ARM_64,
  handler: 'index.handler',
  timeout: Duration.seconds(60),
  code: lambda.Code.fromInline(TLS_PROBE_SOURCE()),
});

const integ = new IntegTest(app, 'RelayInteg', {
  testCases: [relay.data, service, probeStack],
  diffAssets: false,
  cdkCommandOptions: { destroy: { args: { force: true } } },
});

integ.assertions
  .invokeFunction({
    functionName: service.relay.policyFunction.function.functionName,
    payload: JSON.stringify({ action: 'authenticate', login: 'nobody@integ.invalid', password: 'not a password', clientAddress: '192.0.2.1' }),
  })
  .expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('"verdict":"reject"') }));

integ.assertions
  .invokeFunction({
    functionName: probe.functionName,
    payload: JSON.stringify({ host: service.relay.service.loadBalancer.loadBalancerDnsName }),
  })
  .expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('"submissions":"TLSv1\\.[23]","submission":"TLSv1\\.[23]"') }))
  .waitForAssertions({ totalTimeout: Duration.minutes(5), interval: Duration.seconds(20) });

app.synth();

/** The probe's code: port 465 (TLS at once) and 587 (greeting, EHLO, STARTTLS, then TLS); answers the negotiated protocol of each. */
function TLS_PROBE_SOURCE(): string {
  return `
const net = require('node:net');
const tls = require('node:tls');
const handshake = (options) => new Promise((resolve, reject) => {
  const socket = tls.connect({ ...options, rejectUnauthorized: false }, () => { const p = socket.getProtocol(); socket.destroy(); resolve(p); });
  socket.setTimeout(10000, () => socket.destroy(new Error('timeout')));
  socket.once('error', reject);
});
const starttls = (host) => new Promise((resolve, reject) => {
  const socket = net.connect({ host, port: 587 });
  socket.setTimeout(10000, () => socket.destroy(new Error('timeout')));
  socket.once('error', reject);
  let buffer = '';
  let step = 0;
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    if (!/\\r\\n$/.test(buffer) || /^\\d{3}-/m.test(buffer.split('\\r\\n').slice(-2)[0])) return;
    const reply = buffer; buffer = '';
    if (step === 0 && reply.startsWith('220')) { step = 1; socket.write('EHLO probe.invalid\\r\\n'); }
    else if (step === 1 && reply.startsWith('250')) { step = 2; socket.write('STARTTLS\\r\\n'); }
    else if (step === 2 && reply.startsWith('220')) { socket.removeAllListeners('data'); handshake({ socket, servername: host }).then(resolve, reject); }
    else { socket.destroy(); reject(new Error('unexpected reply: ' + reply.slice(0, 80))); }
  });
});
exports.handler = async ({ host }) => {
  const submissions = await handshake({ host, port: 465, servername: host }).catch((e) => 'failed: ' + e.message);
  const submission = await starttls(host).catch((e) => 'failed: ' + e.message);
  return { submissions, submission };
};
`;
}
