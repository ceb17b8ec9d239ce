import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { loadStageConfig, parseStageConfig, STAGES_CONTEXT_KEY } from '../../lib/stage-config.ts';
import { cdkJsonStages } from './support/relay-app.ts';

describe('stage configuration (cdk.json)', () => {
  const stages = cdkJsonStages();

  test('dev and prod in cdk.json are valid', () => {
    assert.doesNotThrow(() => parseStageConfig('dev', stages.dev));
    assert.doesNotThrow(() => parseStageConfig('prod', stages.prod));
  });

  test('prod is strict where dev is cheap: retention, protection, PITR, two tasks', () => {
    const dev = parseStageConfig('dev', stages.dev);
    const prod = parseStageConfig('prod', stages.prod);
    assert.equal(prod.retainData, true);
    assert.equal(prod.pointInTimeRecovery, true);
    assert.equal(prod.containerInsights, true);
    assert.ok(prod.desiredCount >= 2, 'at least two tasks in prod');
    assert.ok(prod.logRetentionDays >= 365, 'a year of logs in prod');
    assert.equal(dev.retainData, false);
    assert.equal(dev.pointInTimeRecovery, false);
    assert.ok(dev.logRetentionDays < prod.logRetentionDays);
  });

  test('the stage comes from -c stage= and defaults to dev', () => {
    const withStage = new App({ context: { [STAGES_CONTEXT_KEY]: stages, stage: 'prod' } });
    assert.equal(loadStageConfig(withStage.node).stage, 'prod');
    const withoutStage = new App({ context: { [STAGES_CONTEXT_KEY]: stages } });
    assert.equal(loadStageConfig(withoutStage.node).stage, 'dev');
  });

  test('an unknown stage fails and names the known ones', () => {
    const app = new App({ context: { [STAGES_CONTEXT_KEY]: stages, stage: 'staging' } });
    assert.throws(() => loadStageConfig(app.node), /unknown stage "staging".*dev, prod/);
  });

  test('missing stage table fails with a pointer to cdk.json', () => {
    const app = new App({ context: { stage: 'prod' } });
    assert.throws(() => loadStageConfig(app.node), /cdk\.json/);
  });

  test('a stage that retains data must name an alarm destination, in one clear line', () => {
    const { alarmEmail: _unused, ...prodWithoutEmail } = stages.prod as Record<string, unknown>;
    assert.throws(
      () => parseStageConfig('prod', prodWithoutEmail),
      (error: Error) => error.message.split('\n').some((line) => /retainData must name an alarm destination: set alarmEmail or alarmTopicArn/.test(line)),
    );
    assert.doesNotThrow(() => parseStageConfig('prod', { ...prodWithoutEmail, alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-alarms' }));
    // A disposable stage may leave its alarms on the dashboard only.
    assert.doesNotThrow(() => parseStageConfig('dev', { ...stages.dev, alarmEmail: undefined }));
  });

  test('relayImage takes an image by digest, from ECR or any registry', () => {
    const digest = 'a'.repeat(64);
    for (const image of [`123456789012.dkr.ecr.eu-west-1.amazonaws.com/submission-relay@sha256:${digest}`, `ghcr.io/example/relay@sha256:${digest}`]) {
      assert.equal(parseStageConfig('prod', { ...stages.prod, relayImage: image }).relayImage, image);
    }
  });

  test('-c relayImage=... overrides the stage\'s image, and is validated the same way', () => {
    const image = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/submission-relay@sha256:${'b'.repeat(64)}`;
    const app = new App({ context: { [STAGES_CONTEXT_KEY]: stages, stage: 'prod', relayImage: image } });
    assert.equal(loadStageConfig(app.node).config.relayImage, image);
    const tagged = new App({ context: { [STAGES_CONTEXT_KEY]: stages, stage: 'prod', relayImage: 'relay:latest' } });
    assert.throws(() => loadStageConfig(tagged.node), /by digest/);
  });

  const invalid: ReadonlyArray<[string, Record<string, unknown>, RegExp]> = [
    ['maxCount below desiredCount', { desiredCount: 3, maxCount: 2 }, /maxCount/],
    ['a task size Fargate does not offer', { taskCpu: 256, taskMemoryMiB: 4096 }, /Fargate task size/],
    ['a retention CloudWatch does not offer', { logRetentionDays: 10 }, /logRetentionDays/],
    ['a grace period the stop timeout cannot cover', { shutdownGraceSeconds: 115 }, /shutdownGraceSeconds/],
    ['a message size above what the relay allows', { maxMessageBytes: 41_943_040 }, /maxMessageBytes/],
    ['an upper-case host name', { hostname: 'SMTP.example.com' }, /hostname/],
    [
      'a hosted zone that does not contain the domain',
      { sendingIdentities: [{ domain: 'example.com', hostedZone: { hostedZoneId: 'Z0123456789ABC', zoneName: 'example.org' } }] },
      /hostedZone/,
    ],
    ['no sending domain', { sendingIdentities: [] }, /sendingIdentities/],
    ['an unknown setting (typo)', { desiredcount: 2 }, /desiredcount/],
    ['an image by tag instead of by digest', { relayImage: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay:latest' }, /relayImage: must be an image by digest/],
    ['an image digest of the wrong length', { relayImage: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/relay@sha256:abc' }, /relayImage/],
    ['an alarm topic that is not an SNS ARN', { alarmEmail: undefined, alarmTopicArn: 'arn:aws:sqs:eu-west-1:123456789012:alarms' }, /alarmTopicArn/],
    ['both an alarm e-mail and an alarm topic', { alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops' }, /alarmTopicArn/],
    ['an unknown certificate source', { certificate: 'certbot' }, /certificate/],
    ['a reserved concurrency that is neither a number nor auto', { policyReservedConcurrency: 'max' }, /policyReservedConcurrency/],
  ];
  for (const [name, patch, message] of invalid) {
    test(`rejects ${name}`, () => {
      assert.throws(() => parseStageConfig('prod', { ...stages.prod, ...patch }), message);
    });
  }
});
