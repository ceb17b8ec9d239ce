import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { buildApp, synthRelay } from './support/relay-app.ts';

/** Every acknowledgement in the tree: rule id, reason, and where. */
function acknowledgements(root: IConstruct): Array<{ id: string; reason: string; path: string }> {
  const found: Array<{ id: string; reason: string; path: string }> = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        // aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; those are not ours to review here.
        if (id.startsWith('CloudFormation-Validate::')) continue;
        found.push({ id: id.replace(/^annotation::/i, ''), reason, path: construct.node.path });
      }
    }
  }
  return found;
}

describe('cdk-nag AwsSolutions', () => {
  for (const stage of ['prod', 'dev']) {
    test(`${stage}: no unsuppressed finding, error or warning`, () => {
      const { app } = synthRelay({ stage });
      const report = new AwsSolutionsChecks().validateScope(app);
      const findings = report.violations.map(
        (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      );
      assert.deepEqual(findings, []);
      assert.equal(report.success, true);
    });
  }

  test('every acknowledgement names an AwsSolutions rule and gives a reason a reviewer can check', () => {
    const acks = acknowledgements(synthRelay({ stage: 'prod' }).app);
    assert.ok(acks.length > 0);
    for (const ack of acks) {
      assert.match(ack.id, /^AwsSolutions-[A-Z]+\d+(\[.+\])?$/, `${ack.path}: ${ack.id}`);
      assert.ok(ack.reason.length >= 80, `${ack.path} ${ack.id}: reason too short: "${ack.reason}"`);
    }
  });

  test('prod acknowledges exactly the expected rules, each on its resource', () => {
    const acks = acknowledgements(synthRelay({ stage: 'prod' }).app).map((a) => `${a.id} @ ${a.path}`).sort();
    assert.deepEqual(acks, [
      'AwsSolutions-EC23 @ SubmissionRelay-prod-Service/Relay/Service/LoadBalancerSecurityGroup',
      'AwsSolutions-ECS2 @ SubmissionRelay-prod-Service/Relay/Service/Task',
      'AwsSolutions-ELB2 @ SubmissionRelay-prod-Service/Relay/Service/LoadBalancer',
      'AwsSolutions-IAM5[Resource::*] @ SubmissionRelay-prod-Service/Relay/Service/Task/ExecutionRole',
      'AwsSolutions-IAM5[Resource::*] @ SubmissionRelay-prod-Service/Relay/SesQuota/Probe/Role',
      'AwsSolutions-L1 @ SubmissionRelay-prod-Data/Certificate/Export/Function',
      'AwsSolutions-L1 @ SubmissionRelay-prod-Service/Relay/Policy/Resource/Function',
      'AwsSolutions-L1 @ SubmissionRelay-prod-Service/Relay/SesQuota/Probe/Function',
      'AwsSolutions-L1 @ SubmissionRelay-prod-Service/Reputation/Function',
      'AwsSolutions-SMG4 @ SubmissionRelay-prod-Data/State/TlsCertificate',
      'AwsSolutions-SNS2 @ SubmissionRelay-prod-Service/Alarms',
      'AwsSolutions-SQS3 @ SubmissionRelay-prod-Service/Reputation/DeadLetters',
    ]);
  });

  test('dev additionally acknowledges only what its stage switches off (PITR, Container Insights) or on (the SES sandbox grant)', () => {
    const prodAcks = acknowledgements(synthRelay({ stage: 'prod' }).app).length;
    const acks = acknowledgements(synthRelay({ stage: 'dev' }).app).map((a) => a.id);
    assert.equal(acks.filter((id) => id === 'AwsSolutions-DDB3').length, 2, 'the relay tables and the reputation table');
    assert.ok(acks.includes('AwsSolutions-ECS4'));
    assert.ok(acks.includes('AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]'));
    assert.equal(acks.length, prodAcks + 4);
  });

  test('the app registers the checks as a validation plugin: a clean app synthesizes (with CloudFormation validation)', () => {
    const { app } = buildApp({ stage: 'prod', nag: true, cfnValidation: true });
    assert.doesNotThrow(() => app.synth());
  });

  test('the app registers the checks as a validation plugin: a non-compliant resource fails synth', () => {
    const { app, relay } = buildApp({ stage: 'prod', nag: true });
    new sns.Topic(relay.service, 'NonCompliantTopic');
    let failure: unknown;
    try {
      app.synth();
    } catch (error) {
      failure = error;
    }
    assert.ok(failure instanceof Error, 'synth fails');
    const reportPath = /found in: (\S+validation-report\.json)/.exec(failure.message)?.[1];
    assert.ok(reportPath, failure.message);
    const report = readFileSync(reportPath, 'utf8');
    assert.match(report, /AwsSolutions-SNS[23]/);
    assert.match(report, /NonCompliantTopic/);
  });
});
