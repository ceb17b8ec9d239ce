import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { resourceById, synthRelay } from './support/relay-app.ts';

const prod = synthRelay({ stage: 'prod' });
const withSets = synthRelay({
  stage: 'prod',
  overrides: { additionalConfigurationSets: ['team-sales'], reputation: { minimumSent: 500, bounceRate: { warn: 0.01, throttle: 0.02, suspend: 0.03 }, messageTtlDays: 30 } },
});

const EVENTS = ['send', 'delivery', 'bounce', 'complaint', 'reject', 'deliveryDelay'];

/** The reputation function's policy statements, by action. */
function statementsOf(template: typeof prod.service): Array<{ Action: string | string[]; Resource: unknown; Condition?: unknown }> {
  const { resource: role } = resourceById(template, 'AWS::IAM::Role', 'ReputationRole');
  const roleId = resourceById(template, 'AWS::IAM::Role', 'ReputationRole').id;
  assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy: any) =>
    policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
  );
  return policies.flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
}

describe('reputation guard (CDK)', () => {
  test('every configuration set the relay may send with publishes the six event types to the default event bus', () => {
    for (const [template, names] of [[prod.service, ['submission-relay-prod']], [withSets.service, ['submission-relay-prod', 'team-sales']]] as const) {
      const destinations = template.findResources('AWS::SES::ConfigurationSetEventDestination');
      assert.deepEqual(Object.values(destinations).map((d: any) => d.Properties.ConfigurationSetName).sort(), [...names].sort());
      template.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
        EventDestination: {
          Name: 'reputation',
          Enabled: true,
          MatchingEventTypes: EVENTS,
          EventBridgeDestination: {
            EventBusArn: { 'Fn::Join': ['', Match.arrayWith([':events:', ':event-bus/default'])] },
          },
        },
      });
    }
  });

  test('a rule on the default bus takes exactly those SES events of those configuration sets to the function, with retries and a DLQ', () => {
    withSets.service.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ses'],
        'detail-type': ['Email Sent', 'Email Delivered', 'Email Bounced', 'Email Complaint Received', 'Email Rejected', 'Email Delivery Delayed'],
        detail: { mail: { tags: { 'ses:configuration-set': ['submission-relay-prod', 'team-sales'] } } },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReputationFunction'), 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReputationDeadLetters'), 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 86400 },
        }),
      ],
    });
  });

  test('the function: Node 22 on ARM64, its own role, its tables and stage thresholds by environment, the DLQ for failed invocations', () => {
    withSets.service.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Role: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReputationRole'), 'Arn'] },
      DeadLetterConfig: { TargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReputationDeadLetters'), 'Arn'] } },
      Environment: {
        Variables: Match.objectLike({
          REPUTATION_THRESHOLDS: JSON.stringify({ minimumSent: 500, bounceRate: { warn: 0.01, throttle: 0.02, suspend: 0.03 } }),
          MESSAGE_TTL_DAYS: '30',
          STAGE: 'prod',
          USERS_TABLE: { 'Fn::GetStackOutput': Match.objectLike({ OutputName: Match.stringLikeRegexp('RefStateTablesUsers') }) },
          REPUTATION_TABLE: { 'Fn::GetStackOutput': Match.objectLike({ OutputName: Match.stringLikeRegexp('RefStateReputationTable') }) },
        }),
      },
    });
    const { resource } = resourceById(prod.service, 'AWS::Lambda::Function', 'ReputationFunction');
    assert.equal(resource.Properties.Environment.Variables.REPUTATION_THRESHOLDS, undefined, 'no stage thresholds: the defaults');
    prod.service.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2 });
  });

  test('least privilege: its table without Scan; users only read (USER#, USERID#); only what restrictUser writes, by partition and attribute', () => {
    const statements = statementsOf(prod.service);
    const byAction = (action: string) => statements.filter((s) => [s.Action].flat().includes(action));
    const allActions = statements.flatMap((s) => [s.Action].flat()).sort();
    assert.deepEqual([...new Set(allActions)].sort(), [
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:SendMessage',
    ]);
    const userReads = byAction('dynamodb:GetItem').find((s) => JSON.stringify(s.Resource).includes('StateTablesUsers'));
    assert.deepEqual(userReads?.Condition, { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['USER#*', 'USERID#*'] } });
    const usersWrites = statements
      .filter((s) => JSON.stringify(s.Resource).includes('StateTablesUsers') && !([s.Action].flat().includes('dynamodb:GetItem')))
      .map((s) => {
        const condition = s.Condition as Record<string, Record<string, string[]>>;
        assert.deepEqual(condition.StringEqualsIfExists, { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_OLD', 'UPDATED_NEW'] }, 'no ALL_OLD: nothing read through a write');
        return `${String(s.Action)} ${condition['ForAllValues:StringLike']!['dynamodb:LeadingKeys']!.join()} ${condition['ForAllValues:StringEquals']!['dynamodb:Attributes']!.join()}`;
      });
    assert.deepEqual(usersWrites, [
      'dynamodb:UpdateItem USER#* pk,sk,restriction,updatedAt',
      'dynamodb:PutItem USER#* pk,sk,login,action,state,reason,by,at',
      'dynamodb:UpdateItem CHANGE pk,sk,epoch',
      'dynamodb:PutItem CHANGE pk,sk,epoch,login,kind,at,expiresAt',
    ]);
    for (const statement of statements.filter((s) => JSON.stringify(s.Resource).includes('StateReputation'))) {
      assert.ok(!JSON.stringify(statement.Resource).includes('/index/'), 'no index access');
    }
    const sqsStatement = byAction('sqs:SendMessage')[0]!;
    assert.match(JSON.stringify(sqsStatement.Resource), /ReputationDeadLetters/);
  });

  test('the relay task has no access to the reputation table', () => {
    const { id: taskRole } = resourceById(prod.service, 'AWS::IAM::Role', 'RelayServiceTaskRole');
    const policies = Object.values(prod.service.findResources('AWS::IAM::Policy')).filter((policy: any) =>
      policy.Properties.Roles.some((r: { Ref: string }) => r.Ref === taskRole),
    );
    assert.ok(policies.length > 0);
    assert.ok(!JSON.stringify(policies).includes('Reputation'));
  });

  test('the DLQ is encrypted, TLS-only, keeps 14 days, and its alarm and the step alarm reach the alarm topic', () => {
    prod.service.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 86400 });
    prod.service.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    prod.service.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'SubmissionRelay-prod-reputation-dead-letters',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^Alarms') }],
    });
    prod.service.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'SubmissionRelay-prod-reputation-steps',
      MetricName: 'ReputationSteps',
      Namespace: 'SubmissionRelay',
      Dimensions: [{ Name: 'Stage', Value: 'prod' }],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^Alarms') }],
    });
    prod.service.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'SubmissionRelay-prod-reputation-errors', MetricName: 'Errors' });
  });

  test('the reputation table lives in the data stack: on demand, encrypted, TTL, PITR, retained and protected in prod', () => {
    prod.data.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 35 },
        DeletionProtectionEnabled: true,
      }),
    });
    assert.equal(Object.keys(prod.data.findResources('AWS::DynamoDB::Table')).length, 3);
  });

  test('stage thresholds are validated at synth', () => {
    assert.throws(() => synthRelay({ stage: 'dev', overrides: { reputation: { bounceRate: { warn: 0.5, throttle: 0.1, suspend: 0.2 } } } }), /reputation/);
    assert.throws(() => synthRelay({ stage: 'dev', overrides: { reputation: { bounceRat: {} } } }), /bounceRat/);
  });

  test('the real lambda/reputation-function.ts bundles offline, with the SDK', () => {
    const real = synthRelay({ stage: 'dev', realHandler: true });
    const { resource } = resourceById(real.service, 'AWS::Lambda::Function', 'ReputationFunction');
    const bundle = readFileSync(path.join(real.assembly.directory, `asset.${resource.Properties.Code.S3Key.replace(/\.zip$/, '')}`, 'index.js'), 'utf8');
    assert.match(bundle, /REPUTATION_TABLE/);
    assert.match(bundle, /relay-user/);
    assert.match(bundle, /UpdateItemCommand|DynamoDBClient/);
  });
});
