import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RelayMetrics } from '../../relay/relay-metrics.ts';
import { connectAuthenticated, connectSecure, startTestRelay } from '../support/relay-fixture.ts';
import { plainToken } from '../support/smtp-dialogue.ts';

const USER = 'john@example.org';
const PASSWORD = 'correct horse battery staple';

interface EmfDocument {
  _aws: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
  [key: string]: unknown;
}

test('the relay writes CloudWatch EMF for accepted, rejected, AUTH failures, SES errors and SES latency', async () => {
  const lines: string[] = [];
  const metrics = new RelayMetrics({ namespace: 'SubmissionRelay', stage: 'test', write: (line) => lines.push(line), flushIntervalMs: 3_600_000 });
  const relay = await startTestRelay({ metrics });
  await relay.addUser(USER, PASSWORD);

  const failed = await connectSecure(relay);
  await failed.command('EHLO client.test');
  await failed.command(`AUTH PLAIN ${plainToken(USER, 'wrong')}`);
  failed.close();

  const smtp = await connectAuthenticated(relay, USER, PASSWORD);
  assert.equal((await smtp.command('MAIL FROM:<mary@example.org>')).code, 553);
  for (const fault of [undefined, 'throttle'] as const) {
    if (fault) relay.stack.ses.faults.arm(fault);
    await smtp.command(`MAIL FROM:<${USER}>`);
    await smtp.command('RCPT TO:<a@example.net>');
    await smtp.command('DATA');
    smtp.write('From: john@example.org\r\n\r\nx\r\n.\r\n');
    await smtp.read();
  }
  relay.stack.ses.faults.clear();
  smtp.close();
  await relay.close();

  const documents = lines.map((line) => JSON.parse(line) as EmfDocument);
  for (const document of documents) {
    const directive = document._aws.CloudWatchMetrics[0];
    assert.equal(directive?.Namespace, 'SubmissionRelay');
    for (const metric of directive?.Metrics ?? []) assert.ok(metric.Name in document, `${metric.Name} has a value`);
    for (const dimension of directive?.Dimensions.flat() ?? []) assert.ok(dimension in document, `${dimension} has a value`);
  }
  const main = documents.find((document) => 'MessagesAccepted' in document);
  assert.equal(main?.MessagesAccepted, 1);
  assert.equal(main?.AuthFailures, 1);
  assert.ok((main?.SesErrors as number) >= 1);
  assert.deepEqual((main?.SesLatency as { Counts: number[] }).Counts.reduce((a, b) => a + b, 0), 1);
  const rejected = Object.fromEntries(documents.filter((d) => 'Reason' in d).map((d) => [d.Reason, d.MessagesRejected]));
  assert.equal(rejected['sender-not-owned'], 1);
  assert.equal(rejected['ses-throttled'], 1);
});
