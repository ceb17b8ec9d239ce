import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { resourceById, synthRelay } from './support/relay-app.ts';

const prod = synthRelay({ stage: 'prod' });
const dev = synthRelay({ stage: 'dev' });
const zoned = synthRelay({
  stage: 'prod',
  overrides: {
    sendingIdentities: [
      {
        domain: 'mail.example.com',
        mailFromSubdomain: 'bounce',
        hostedZone: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' },
      },
    ],
    hostnameZone: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', zoneName: 'example.com' },
  },
});

describe('DynamoDB tables', () => {
  test('users: pk/sk, GSI byOwner on gsi1pk/gsi1sk projecting all, on demand, KMS-encrypted, change items expiring (TTL on expiresAt)', () => {
    prod.data.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byOwner',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  test('counters: pk/sk with TTL on expiresAt, on demand, KMS-encrypted', () => {
    prod.data.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: Match.absent(),
    });
  });

  test('prod: point-in-time recovery (35 days), deletion protection and RETAIN on both', () => {
    prod.data.resourceCountIs('AWS::DynamoDB::Table', 2);
    prod.data.allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true, RecoveryPeriodInDays: 35 },
        DeletionProtectionEnabled: true,
      }),
    });
  });

  test('dev: disposable — no PITR, no deletion protection, deleted with the stack', () => {
    dev.data.allResources('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false },
        DeletionProtectionEnabled: false,
      }),
    });
  });

  test('prod data stack has termination protection, dev does not', () => {
    assert.equal(prod.relay.data.terminationProtection, true);
    assert.equal(dev.relay.data.terminationProtection, false);
    assert.equal(prod.assembly.getStackByName('SubmissionRelay-prod-Data').terminationProtection, true);
  });

  test('outputs the users table name for relayctl', () => {
    prod.data.hasOutput('UsersTableName', { Value: { Ref: Match.stringLikeRegexp('^StateTablesUsers') } });
  });
});

describe('TLS certificate secret', () => {
  test('is a Secrets Manager JSON secret with certificate and privateKey, retained in prod', () => {
    const { resource } = resourceById(prod.data, 'AWS::SecretsManager::Secret', 'StateTlsCertificate');
    assert.equal(resource.Properties.Name, 'submission-relay/prod/tls-certificate');
    assert.deepEqual(JSON.parse(resource.Properties.SecretString), { certificate: '', privateKey: '' });
    assert.equal(resource.DeletionPolicy, 'Retain');
    dev.data.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Delete' });
  });
});

describe('SES', () => {
  test('domain identity with Easy DKIM (2048-bit), custom MAIL FROM, default configuration set', () => {
    prod.data.hasResourceProperties('AWS::SES::EmailIdentity', {
      EmailIdentity: 'example.com',
      DkimAttributes: { SigningEnabled: true },
      DkimSigningAttributes: { NextSigningKeyLength: 'RSA_2048_BIT', DomainSigningPrivateKey: Match.absent() },
      MailFromAttributes: { MailFromDomain: 'bounce.example.com', BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' },
      ConfigurationSetAttributes: { ConfigurationSetName: { Ref: Match.stringLikeRegexp('^StateSendingConfigurationSet') } },
    });
    prod.data.hasResource('AWS::SES::EmailIdentity', { DeletionPolicy: 'Retain' });
  });

  test('configuration set with reputation metrics and suppression of bounces and complaints', () => {
    prod.data.hasResourceProperties('AWS::SES::ConfigurationSet', {
      Name: 'submission-relay-prod',
      ReputationOptions: { ReputationMetricsEnabled: true },
      SendingOptions: { SendingEnabled: true },
      SuppressionOptions: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
    });
  });

  test('event destination publishes send, reject, bounce, complaint and delivery delay to CloudWatch', () => {
    prod.data.resourceCountIs('AWS::SES::ConfigurationSetEventDestination', 1);
    prod.data.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
      ConfigurationSetName: { Ref: Match.stringLikeRegexp('^StateSendingConfigurationSet') },
      EventDestination: {
        Enabled: true,
        MatchingEventTypes: ['send', 'reject', 'bounce', 'complaint', 'deliveryDelay'],
        CloudWatchDestination: {
          DimensionConfigurations: [
            {
              DimensionName: 'ses:configuration-set',
              DimensionValueSource: 'messageTag',
              DefaultDimensionValue: 'submission-relay-prod',
            },
          ],
        },
      },
    });
  });

  test('without a hosted zone: DKIM and MAIL FROM records are printed as outputs, no records created', () => {
    prod.data.resourceCountIs('AWS::Route53::RecordSet', 0);
    const outputs = prod.data.findOutputs('*');
    const values = Object.values(outputs).map((o) => JSON.stringify(o.Value));
    assert.equal(values.filter((v) => v.includes(' CNAME ')).length, 3, 'three DKIM CNAMEs');
    assert.ok(values.some((v) => v.includes('bounce.example.com MX 10 feedback-smtp.')), 'MAIL FROM MX');
    assert.ok(values.some((v) => v.includes('bounce.example.com TXT') && v.includes('v=spf1 include:amazonses.com ~all')), 'MAIL FROM SPF');
  });

  test('with a hosted zone: three DKIM CNAMEs and the MAIL FROM MX and SPF records are created in it', () => {
    zoned.data.resourceCountIs('AWS::Route53::RecordSet', 5);
    for (const n of [1, 2, 3]) {
      // The token name SES returns is fully qualified: used as is, never with the zone appended again.
      zoned.data.hasResourceProperties('AWS::Route53::RecordSet', {
        Type: 'CNAME',
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        Name: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StateSendingMailExampleCom'), `DkimDNSTokenName${n}`] },
        ResourceRecords: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^StateSendingMailExampleCom'), `DkimDNSTokenValue${n}`] }],
      });
    }
    zoned.data.hasResourceProperties('AWS::Route53::RecordSet', {
      Type: 'MX',
      Name: 'bounce.mail.example.com.',
      ResourceRecords: [{ 'Fn::Join': ['', ['10 feedback-smtp.', { Ref: 'AWS::Region' }, '.amazonses.com']] }],
    });
    zoned.data.hasResourceProperties('AWS::Route53::RecordSet', {
      Type: 'TXT',
      Name: 'bounce.mail.example.com.',
      ResourceRecords: ['"v=spf1 include:amazonses.com ~all"'],
    });
    const outputs = Object.values(zoned.data.findOutputs('*')).map((o) => JSON.stringify(o.Value));
    assert.equal(outputs.filter((v) => v.includes(' CNAME ')).length, 0);
  });

  test('with a hostname zone: an alias A record points the relay host name at the NLB', () => {
    zoned.service.hasResourceProperties('AWS::Route53::RecordSet', {
      Type: 'A',
      Name: 'smtp.example.com.',
      HostedZoneId: 'Z0123456789ABCDEFGHIJ',
      AliasTarget: Match.objectLike({
        DNSName: Match.objectLike({ 'Fn::Join': Match.anyValue() }),
      }),
    });
  });
});
