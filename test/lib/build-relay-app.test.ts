import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Token } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { buildApp, synthRelay } from './support/relay-app.ts';

describe('buildRelayApp', () => {
  test('one data stack and one service stack per stage, named after it', () => {
    const { assembly } = synthRelay({ stage: 'prod' });
    assert.deepEqual(assembly.stacks.map((s) => s.stackName).sort(), ['SubmissionRelay-prod-Data', 'SubmissionRelay-prod-Service']);
  });

  test('stacks are environment-agnostic by default: synth needs no account, region or lookup', () => {
    const { relay, assembly } = synthRelay({ stage: 'prod' });
    for (const stack of [relay.data, relay.service]) {
      assert.ok(Token.isUnresolved(stack.account));
      assert.ok(Token.isUnresolved(stack.region));
    }
    for (const stack of assembly.stacks) {
      assert.equal(stack.environment.account, 'unknown-account');
      assert.equal(stack.environment.region, 'unknown-region');
    }
    assert.equal(assembly.manifest.missing, undefined, 'no context lookups');
  });

  test('a stage may pin account and region', () => {
    const { relay } = buildApp({ stage: 'prod', overrides: { account: '123456789012', region: 'eu-west-1' } });
    assert.equal(relay.service.account, '123456789012');
    assert.equal(relay.service.region, 'eu-west-1');
    assert.equal(relay.data.region, 'eu-west-1');
  });

  test('the service stack deploys after the data stack it reads from', () => {
    const { assembly } = synthRelay({ stage: 'prod' });
    const service = assembly.getStackByName('SubmissionRelay-prod-Service');
    assert.ok(service.dependencies.some((d) => d.id === 'SubmissionRelay-prod-Data'));
  });

  test('resources are tagged with project and stage', () => {
    const { service, data } = synthRelay({ stage: 'prod' });
    const tags = Match.arrayWith([
      { Key: 'Project', Value: 'submission-relay' },
      { Key: 'Stage', Value: 'prod' },
    ]);
    service.hasResourceProperties('AWS::ECS::Service', { Tags: tags });
    data.hasResourceProperties('AWS::DynamoDB::Table', { Tags: tags });
  });

  test('the service stack outputs what the operator needs', () => {
    const { service } = synthRelay({ stage: 'prod' });
    const descriptions = Object.values(service.findOutputs('*')).map((o) => o.Description as string);
    for (const expected of [/DNS name of the NLB/, /ECS cluster/, /ECS service/, /policy Lambda/, /dashboard/]) {
      assert.ok(descriptions.some((d) => expected.test(d)), String(expected));
    }
  });
});
