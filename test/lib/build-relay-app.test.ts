import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

describe('stack outputs: fixed names, and every one docs/deploying.md reads exists', () => {
  const docs = readFileSync(new URL('../../docs/deploying.md', import.meta.url), 'utf8');

  test('outputs are named exactly (no construct path, no hash)', () => {
    const { service, data } = synthRelay({ stage: 'prod' });
    assert.deepEqual(Object.keys(service.findOutputs('*')).sort(), [
      'AlarmTopicArn',
      'ClusterName',
      'DashboardName',
      'LoadBalancerDnsName',
      'PolicyFunctionName',
      'RelayLogGroupName',
      'ServiceName',
    ]);
    const dataOutputs = Object.keys(data.findOutputs('*')).filter((name) => !name.startsWith('PublishOutput'));
    assert.deepEqual(dataOutputs.sort(), [
      'CertificateArn',
      'CertificateExportFunctionName',
      'CertificateSecretName',
      'ConfigurationSetName',
      'CountersTableName',
      'ExampleComMailFromMxRecord',
      'ExampleComMailFromSpfRecord',
      'ReputationTableName',
      'UsersTableName',
      'ExampleComDkimRecord1',
      'ExampleComDkimRecord2',
      'ExampleComDkimRecord3',
    ].sort());
  });

  test('every `out <stack> <output>` and OutputKey== in the docs names an output that stack has', () => {
    const { service, data } = synthRelay({ stage: 'prod' });
    const byStack: Record<string, string[]> = {
      'SubmissionRelay-prod-Service': Object.keys(service.findOutputs('*')),
      'SubmissionRelay-prod-Data': Object.keys(data.findOutputs('*')),
    };
    const reads = [...docs.matchAll(/\bout (SubmissionRelay-prod-(?:Data|Service)) ([A-Za-z0-9]+)/g)].map((match) => [match[1]!, match[2]!] as const);
    assert.ok(reads.length >= 8, `found ${reads.length} reads`);
    for (const [stack, output] of reads) assert.ok(byStack[stack]!.includes(output), `${stack} has no output ${output}`);
    // The function the docs define queries by OutputKey, which the fixed names make stable.
    assert.match(docs, /--query "Stacks\[0\]\.Outputs\[\?OutputKey=='\$2'\]\.OutputValue" --output text/);
    // Outputs named in prose exist too.
    for (const name of docs.match(/`(?:[A-Z][a-z]+)+(?:Name|Arn)`/g) ?? []) {
      const bare = name.slice(1, -1);
      if (bare === 'ProductionAccessEnabled') continue;
      assert.ok([...byStack['SubmissionRelay-prod-Service']!, ...byStack['SubmissionRelay-prod-Data']!].includes(bare), `no output ${bare}`);
    }
  });

  test('the prerequisites name every tool the deploy commands use', () => {
    const prerequisites = docs.slice(docs.indexOf('## What you need'), docs.indexOf('## 1. Configure the stage'));
    for (const tool of ['AWS CLI', 'Node.js', 'jq', 'swaks', 'Docker']) assert.ok(prerequisites.includes(tool), tool);
  });
});
