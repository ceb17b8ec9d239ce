import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { SendingIdentities } from '../../lib/sending-identities.ts';
import { resourceById, synthRelay } from './support/relay-app.ts';

const prod = synthRelay({ stage: 'prod' });
const template = prod.service;

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Statements of the inline default policy attached to the role with the given logical id prefix. */
function statementsOf(rolePrefix: string): Statement[] {
  const role = resourceById(template, 'AWS::IAM::Role', rolePrefix).id;
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
    (policy.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === role),
  );
  assert.equal(policies.length, 1, `one policy on ${rolePrefix}`);
  return policies[0]!.Properties.PolicyDocument.Statement as Statement[];
}

const actions = (statement: Statement): string[] => [statement.Action].flat();
const fromDataStack = (outputPattern: RegExp) =>
  Match.objectLike({
    'Fn::GetStackOutput': Match.objectLike({
      StackName: 'SubmissionRelay-prod-Data',
      OutputName: Match.stringLikeRegexp(outputPattern.source),
    }),
  });

describe('relay task role: invoke the policy function, send through SES, update counters, read the change feed, nothing else', () => {
  test('is assumable by ECS tasks of this account only', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      RoleName: Match.absent(),
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { Service: 'ecs-tasks.amazonaws.com' },
            Condition: {
              ArnLike: { 'aws:SourceArn': Match.anyValue() },
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            },
          },
        ],
      },
      Description: Match.stringLikeRegexp('^Submission relay task'),
    });
    const { resource } = resourceById(template, 'AWS::IAM::Role', 'RelayServiceTaskRole');
    assert.equal(resource.Properties.ManagedPolicyArns, undefined, 'no managed policies');
  });

  test('has exactly four statements', () => {
    const statements = statementsOf('RelayServiceTaskRole');
    assert.deepEqual(
      statements.map((s) => actions(s)),
      [['lambda:InvokeFunction'], ['ses:SendRawEmail'], ['dynamodb:UpdateItem'], ['dynamodb:GetItem', 'dynamodb:Query']],
    );
    assert.ok(statements.every((s) => s.Effect === 'Allow'));
  });

  test('lambda:InvokeFunction on the policy function ARN only (no versions, no wildcard)', () => {
    const [invoke] = statementsOf('RelayServiceTaskRole');
    assert.deepEqual(invoke!.Resource, { 'Fn::GetAtt': [resourceById(template, 'AWS::Lambda::Function', 'RelayPolicyFunction').id, 'Arn'] });
  });

  test('ses:SendRawEmail on the identity and the configuration set, From address in the identity domain', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 'ses:SendRawEmail',
            Effect: 'Allow',
            Condition: { StringLike: { 'ses:FromAddress': '*@example.com' } },
            Resource: [
              {
                'Fn::Join': [
                  '',
                  ['arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':configuration-set/submission-relay-prod'],
                ],
              },
              {
                'Fn::Join': [
                  '',
                  ['arn:', { Ref: 'AWS::Partition' }, ':ses:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':identity/example.com'],
                ],
              },
            ],
          },
        ]),
      },
    });
  });

  test('dynamodb:UpdateItem on the counters table only', () => {
    const update = statementsOf('RelayServiceTaskRole')[2]!;
    assert.equal(JSON.stringify(update.Resource).includes('*'), false);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Action: 'dynamodb:UpdateItem', Effect: 'Allow', Resource: fromDataStack(/Counters.*Arn/) },
        ]),
      },
    });
  });

  test('the users table: GetItem and Query on the CHANGE partition only (the change feed), not its index, no write', () => {
    const feed = statementsOf('RelayServiceTaskRole')[3]!;
    assert.deepEqual(feed.Condition, { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CHANGE'] } });
    assert.equal(JSON.stringify(feed.Resource).includes('index'), false);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: ['dynamodb:GetItem', 'dynamodb:Query'],
            Effect: 'Allow',
            Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CHANGE'] } },
            Resource: fromDataStack(/Users.*Arn/),
          },
        ]),
      },
    });
  });

  test('the task knows the users table by name, for the change feed', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({ Environment: Match.arrayWith([{ Name: 'USERS_TABLE', Value: fromDataStack(/RefStateTablesUsers/) }]) }),
      ]),
    });
  });
});

describe('policy function role: reads the users table, writes only a rehashed password', () => {
  test('is its own role without managed policies', () => {
    const { resource } = resourceById(template, 'AWS::IAM::Role', 'RelayPolicyRole');
    assert.deepEqual(resource.Properties.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    assert.equal(resource.Properties.ManagedPolicyArns, undefined);
  });

  test('writes its own log group, reads the users table and its byOwner index, rehashes passwords, nothing else', () => {
    const statements = statementsOf('RelayPolicyRole');
    assert.equal(statements.length, 3);
    assert.deepEqual(actions(statements[0]!).sort(), ['logs:CreateLogStream', 'logs:PutLogEvents']);
    assert.deepEqual(statements[0]!.Resource, {
      'Fn::GetAtt': [resourceById(template, 'AWS::Logs::LogGroup', 'RelayPolicyLogs').id, 'Arn'],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'],
            Effect: 'Allow',
            Resource: [
              fromDataStack(/Users.*Arn/),
              { 'Fn::Join': ['', [fromDataStack(/Users.*Arn/), '/index/byOwner']] },
            ],
          },
        ]),
      },
    });
  });

  test('its one write: UpdateItem of passwordHash and updatedAt on USER# items, returning nothing else', () => {
    const rehash = statementsOf('RelayPolicyRole').filter((statement) => actions(statement).includes('dynamodb:UpdateItem'));
    assert.equal(rehash.length, 1);
    assert.deepEqual(actions(rehash[0]!), ['dynamodb:UpdateItem']);
    assert.deepEqual(rehash[0]!.Condition, {
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['USER#*'] },
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'passwordHash', 'updatedAt'] },
      StringEqualsIfExists: { 'dynamodb:ReturnValues': ['NONE', 'UPDATED_OLD', 'UPDATED_NEW'] },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'dynamodb:UpdateItem', Resource: fromDataStack(/Users.*Arn/) })]) },
    });
  });
});

describe('execution role (ECS agent)', () => {
  test('pulls the image, writes the relay log group, reads the certificate secret', () => {
    const statements = statementsOf('RelayServiceTaskExecutionRole');
    assert.deepEqual(statements.map((s) => actions(s).sort()), [
      ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
      ['ecr:GetAuthorizationToken'],
      ['logs:CreateLogStream', 'logs:PutLogEvents'],
      ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
    ]);
    assert.equal(statements[1]!.Resource, '*', 'GetAuthorizationToken has no resource-level permissions');
    assert.match(JSON.stringify(statements[0]!.Resource), /container-assets/);
    assert.match(JSON.stringify(statements[3]!.Resource), /TlsCertificate/);
  });
});

describe('no wildcards where they matter', () => {
  const allStatements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as Statement[],
  );

  test('no action wildcard anywhere', () => {
    for (const statement of allStatements) {
      for (const action of actions(statement)) assert.doesNotMatch(action, /\*/, action);
    }
  });

  test('no "*" resource except ecr:GetAuthorizationToken', () => {
    for (const statement of allStatements) {
      if (JSON.stringify(statement.Resource).includes('"*"')) {
        assert.deepEqual(actions(statement), ['ecr:GetAuthorizationToken']);
      }
    }
  });

  test('SES sending and DynamoDB writes never on a wildcard resource', () => {
    for (const statement of allStatements) {
      const sensitive = actions(statement).some((a) => a.startsWith('ses:') || /^dynamodb:(Put|Update|Delete|BatchWrite)/.test(a));
      if (sensitive) assert.doesNotMatch(JSON.stringify(statement.Resource), /\*/);
    }
  });

  test('nobody in the service stack may write users, scan, or send with any other SES action', () => {
    const granted = allStatements.flatMap(actions);
    for (const forbidden of ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Scan', 'ses:SendEmail']) {
      assert.ok(!granted.includes(forbidden), forbidden);
    }
  });
});

describe('configuration sets given to users (relayctl user set --configuration-set)', () => {
  test('are sendable only when the stage lists them, each by its own ARN', () => {
    const withTeamSets = synthRelay({ stage: 'prod', overrides: { additionalConfigurationSets: ['team-sales', 'team-billing'] } });
    const policies = Object.values(withTeamSets.service.findResources('AWS::IAM::Policy'));
    const send = policies
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[])
      .filter((statement) => actions(statement).includes('ses:SendRawEmail'));
    assert.equal(send.length, 1);
    const resources = JSON.stringify(send[0]!.Resource);
    for (const name of ['submission-relay-prod', 'team-sales', 'team-billing']) {
      assert.ok(resources.includes(`:configuration-set/${name}"`), name);
    }
    assert.doesNotMatch(resources, /\*/);
    assert.doesNotMatch(JSON.stringify(statementsOf('RelayServiceTaskRole')), /team-sales/, 'the default stage has none');
  });
});

describe('SendingIdentities.grantSendRawEmail with several domains', () => {
  test('one statement per domain, each limited to its own From domain', () => {
    const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'Grants');
    const sending = new SendingIdentities(stack, 'Sending', {
      identities: [{ domain: 'example.com' }, { domain: 'example.org' }],
      configurationSetName: 'relay-test',
    });
    const role = new iam.Role(stack, 'Grantee', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    sending.grantSendRawEmail(role);
    const statements = Template.fromStack(stack).findResources('AWS::IAM::Policy');
    const document = Object.values(statements)[0]!.Properties.PolicyDocument.Statement as Statement[];
    assert.deepEqual(
      document.map((s) => [s.Action, (s.Condition as { StringLike: Record<string, string> }).StringLike['ses:FromAddress']]),
      [
        ['ses:SendRawEmail', '*@example.com'],
        ['ses:SendRawEmail', '*@example.org'],
      ],
    );
    for (const [index, domain] of ['example.com', 'example.org'].entries()) {
      const resources = JSON.stringify(document[index]!.Resource);
      assert.match(resources, new RegExp(`:identity/${domain.replace('.', '\\.')}"`));
      assert.match(resources, /:configuration-set\/relay-test"/);
      assert.doesNotMatch(resources, new RegExp(`identity/(?!${domain.replace('.', '\\.')})`));
    }
  });
});
