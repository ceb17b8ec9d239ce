import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { resourceById, synthRelay } from './support/relay-app.ts';

const prod = synthRelay({ stage: 'prod' });
const reserved = synthRelay({ stage: 'dev', overrides: { policyReservedConcurrency: 25 } });

describe('policy function', () => {
  test('Node 22 on ARM64, sized for password hashing, 10 s timeout', () => {
    prod.service.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 1024,
      Timeout: 10,
      Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^RelayPolicyRole'), 'Arn'] },
    });
  });

  test('knows its users table by name, from the data stack', () => {
    prod.service.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          TABLE_NAME: {
            'Fn::GetStackOutput': Match.objectLike({
              StackName: 'SubmissionRelay-prod-Data',
              OutputName: Match.stringLikeRegexp('RefStateTablesUsers'),
            }),
          },
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  test('reserved concurrency: "auto" (prod) is what the tasks can ask at most, maxCount x POLICY_MAX_IN_FLIGHT', () => {
    const { resource } = resourceById(prod.service, 'AWS::Lambda::Function', 'RelayPolicyFunction');
    const container = resourceById(prod.service, 'AWS::ECS::TaskDefinition', 'RelayServiceTask').resource.Properties.ContainerDefinitions[0];
    const inFlight = Number(container.Environment.find((e: { Name: string }) => e.Name === 'POLICY_MAX_IN_FLIGHT').Value);
    assert.equal(inFlight, 16);
    assert.equal(resource.Properties.ReservedConcurrentExecutions, 6 * inFlight);
  });

  test('reserved concurrency: a number is taken as is; none unless the stage asks', () => {
    reserved.service.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      MemorySize: 1024,
      ReservedConcurrentExecutions: 25,
    });
    const dev = synthRelay({ stage: 'dev' });
    const { resource } = resourceById(dev.service, 'AWS::Lambda::Function', 'RelayPolicyFunction');
    assert.equal(resource.Properties.ReservedConcurrentExecutions, undefined);
  });

  test('is bundled by the local esbuild into index.js (no Docker)', () => {
    const { resource } = resourceById(prod.service, 'AWS::Lambda::Function', 'RelayPolicyFunction');
    const bundle = bundlePath(prod.assembly.directory, resource);
    assert.ok(existsSync(bundle), bundle);
    assert.match(readFileSync(bundle, 'utf8'), /invalid-credentials/);
  });

  test('the relay waits for it a little longer than its timeout', () => {
    const container = resourceById(prod.service, 'AWS::ECS::TaskDefinition', 'RelayServiceTask').resource.Properties
      .ContainerDefinitions[0];
    const timeout = container.Environment.find((e: { Name: string }) => e.Name === 'POLICY_TIMEOUT_SECONDS');
    assert.equal(Number(timeout.Value), 12);
  });
});

describe('policy function with the real lambda/handler.ts', () => {
  test('bundles the real handler (with the AWS SDK) offline', () => {
    const real = synthRelay({ stage: 'dev', realHandler: true });
    const { resource } = resourceById(real.service, 'AWS::Lambda::Function', 'RelayPolicyFunction');
    const bundle = readFileSync(bundlePath(real.assembly.directory, resource), 'utf8');
    assert.match(bundle, /TABLE_NAME/);
    assert.match(bundle, /DynamoDBClient|GetItemCommand/, 'the SDK is bundled, not taken from the runtime');
  });
});

/** The bundled index.js of a function: the asset directory named after the code's S3 key. */
function bundlePath(assemblyDirectory: string, fn: { Properties: { Code: { S3Key: string } } }): string {
  const hash = fn.Properties.Code.S3Key.replace(/\.zip$/, '');
  return path.join(assemblyDirectory, `asset.${hash}`, 'index.js');
}
