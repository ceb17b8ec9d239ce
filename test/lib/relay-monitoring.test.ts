import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { buildApp, resourceById, synthRelay } from './support/relay-app.ts';

// prod as cdk.json has it: the reputation guard's dead-letter queue and function are handed to the monitoring.
const prodApp = buildApp({ stage: 'prod' });
const prodAssembly = prodApp.app.synth();
const prod = { service: Template.fromJSON(prodAssembly.getStackByName(prodApp.relay.service.stackName).template as Record<string, unknown>) };
const dev = synthRelay({ stage: 'dev' });
const withTopic = synthRelay({ stage: 'dev', overrides: { alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops-alarms' } });
const template = prod.service;

function alarm(name: string): Record<string, any> {
  const found = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
    (resource) => resource.Properties.AlarmName === `SubmissionRelay-prod-${name}`,
  );
  assert.equal(found.length, 1, `alarm ${name}`);
  return found[0]!.Properties;
}

describe('alarms', () => {
  test('the service is covered: tasks, targets, functions, SES, certificate, dead letters', () => {
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((resource) => resource.Properties.AlarmName as string)
      .sort();
    assert.deepEqual(names, [
      'SubmissionRelay-prod-auth-failure-spike',
      'SubmissionRelay-prod-certificate-expiring',
      'SubmissionRelay-prod-certificate-export-duration-near-timeout',
      'SubmissionRelay-prod-certificate-export-errors',
      'SubmissionRelay-prod-certificate-export-throttles',
      'SubmissionRelay-prod-healthy-targets-below-minimum-465',
      'SubmissionRelay-prod-healthy-targets-below-minimum-587',
      'SubmissionRelay-prod-no-healthy-targets-465',
      'SubmissionRelay-prod-no-healthy-targets-587',
      'SubmissionRelay-prod-policy-duration-near-timeout',
      'SubmissionRelay-prod-policy-errors',
      'SubmissionRelay-prod-policy-throttles',
      'SubmissionRelay-prod-policy-unavailable',
      'SubmissionRelay-prod-reputation-dead-letters',
      'SubmissionRelay-prod-reputation-duration-near-timeout',
      'SubmissionRelay-prod-reputation-errors',
      'SubmissionRelay-prod-reputation-steps',
      'SubmissionRelay-prod-reputation-throttles',
      'SubmissionRelay-prod-running-tasks-below-minimum',
      'SubmissionRelay-prod-ses-bounce-rate',
      'SubmissionRelay-prod-ses-complaint-rate',
      'SubmissionRelay-prod-ses-errors',
      'SubmissionRelay-prod-ses-quota-headroom',
      'SubmissionRelay-prod-ses-quota-probe-duration-near-timeout',
      'SubmissionRelay-prod-ses-quota-probe-errors',
      'SubmissionRelay-prod-ses-quota-probe-throttles',
    ]);
  });

  test('running tasks below the minimum: Container Insights RunningTaskCount under desiredCount for 5 minutes', () => {
    const properties = alarm('running-tasks-below-minimum');
    assert.deepEqual(pick(properties, ['Namespace', 'MetricName', 'Statistic', 'Period', 'EvaluationPeriods', 'Threshold', 'ComparisonOperator', 'TreatMissingData']), {
      Namespace: 'ECS/ContainerInsights',
      MetricName: 'RunningTaskCount',
      Statistic: 'Minimum',
      Period: 60,
      EvaluationPeriods: 5,
      Threshold: 2,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    assert.deepEqual(properties.Dimensions.map((d: { Name: string }) => d.Name).sort(), ['ClusterName', 'ServiceName']);
    // Without Container Insights (dev) the healthy-target alarms stand in for it.
    assert.ok(!Object.values(dev.service.findResources('AWS::CloudWatch::Alarm')).some((a) => a.Properties.MetricName === 'RunningTaskCount'));
  });

  test('healthy targets below the minimum, per listener, for 5 minutes', () => {
    for (const port of ['587', '465']) {
      const properties = alarm(`healthy-targets-below-minimum-${port}`);
      assert.equal(properties.MetricName, 'HealthyHostCount');
      assert.equal(properties.Threshold, 2);
      assert.equal(properties.EvaluationPeriods, 5);
      assert.equal(properties.ComparisonOperator, 'LessThanThreshold');
    }
  });

  test('policy function duration near its 10 s timeout: slowest run over 8 s in 5 minutes', () => {
    const properties = alarm('policy-duration-near-timeout');
    assert.deepEqual(pick(properties, ['Namespace', 'MetricName', 'Statistic', 'Period', 'Threshold']), {
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 8000,
    });
  });

  test('policy unavailable: the relay\'s 454 refusals at AUTH and MAIL, summed', () => {
    const properties = alarm('policy-unavailable');
    assert.equal(properties.Threshold, 5);
    const queries = properties.Metrics as Array<Record<string, any>>;
    const expression = queries.find((query) => query.Expression);
    assert.equal(expression!.Expression, 'FILL(auth, 0) + FILL(sender, 0)');
    const reasons = queries
      .filter((query) => query.MetricStat)
      .map((query) => [query.Id, query.MetricStat.Metric.MetricName, query.MetricStat.Metric.Dimensions.find((d: { Name: string }) => d.Name === 'Reason').Value]);
    assert.deepEqual(reasons.sort(), [
      ['auth', 'MessagesRejected', 'auth-unavailable'],
      ['sender', 'MessagesRejected', 'sender-unavailable'],
    ]);
  });

  test('SES quota headroom: the probe\'s SesQuotaUsedPercent at 80 % or more', () => {
    assert.deepEqual(pick(alarm('ses-quota-headroom'), ['Namespace', 'MetricName', 'Dimensions', 'Statistic', 'Threshold', 'ComparisonOperator']), {
      Namespace: 'SubmissionRelay',
      MetricName: 'SesQuotaUsedPercent',
      Dimensions: [{ Name: 'Stage', Value: 'prod' }],
      Statistic: 'Maximum',
      Threshold: 80,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  test('certificate expiring: the tasks\' CertificateDaysLeft under 14', () => {
    assert.deepEqual(pick(alarm('certificate-expiring'), ['Namespace', 'MetricName', 'Dimensions', 'Statistic', 'Period', 'Threshold', 'ComparisonOperator']), {
      Namespace: 'SubmissionRelay',
      MetricName: 'CertificateDaysLeft',
      Dimensions: [{ Name: 'Stage', Value: 'prod' }],
      Statistic: 'Minimum',
      Period: 3600,
      Threshold: 14,
      ComparisonOperator: 'LessThanThreshold',
    });
  });

  test('functions beside the policy (certificate export, SES quota probe): errors, throttles, duration near timeout', () => {
    assert.equal(alarm('certificate-export-duration-near-timeout').Threshold, 48_000);
    assert.equal(alarm('ses-quota-probe-duration-near-timeout').Threshold, 24_000);
    assert.equal(alarm('certificate-export-errors').MetricName, 'Errors');
    assert.equal(alarm('ses-quota-probe-throttles').MetricName, 'Throttles');
  });

  test("the reputation function's dead-letter queue alarms on its first message", () => {
    assert.deepEqual(pick(alarm('reputation-dead-letters'), ['Namespace', 'MetricName', 'Statistic', 'Threshold', 'ComparisonOperator']), {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });
});

describe('deployment alarms', () => {
  test('a deployment that raises SES errors or policy failures rolls back by itself', () => {
    const service = resourceById(template, 'AWS::ECS::Service', 'RelayService').resource;
    const { Alarms, DeploymentCircuitBreaker } = service.Properties.DeploymentConfiguration;
    assert.deepEqual(DeploymentCircuitBreaker, { Enable: true, Rollback: true });
    assert.equal(Alarms.Enable, true);
    assert.equal(Alarms.Rollback, true);
    const named = (Alarms.AlarmNames as Array<{ Ref: string }>).map(({ Ref }) => template.toJSON().Resources[Ref].Properties.AlarmName);
    assert.deepEqual(named, ['SubmissionRelay-prod-ses-errors', 'SubmissionRelay-prod-policy-unavailable']);
  });

  test('every alarm notifies the alarm topic, and again when it returns to OK', () => {
    const topic = resourceById(template, 'AWS::SNS::Topic', 'Alarms').id;
    template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: topic }],
      OKActions: [{ Ref: topic }],
    });
  });

  test('SES errors: the relay\'s SesErrors metric, 5 or more in 5 minutes', () => {
    assert.deepEqual(
      pick(alarm('ses-errors'), ['Namespace', 'MetricName', 'Dimensions', 'Statistic', 'Period', 'Threshold', 'ComparisonOperator', 'TreatMissingData']),
      {
        Namespace: 'SubmissionRelay',
        MetricName: 'SesErrors',
        Dimensions: [{ Name: 'Stage', Value: 'prod' }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 5,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      },
    );
  });

  test('AUTH failure spike: the stage threshold of failed AUTHs in 5 minutes', () => {
    assert.deepEqual(pick(alarm('auth-failure-spike'), ['Namespace', 'MetricName', 'Dimensions', 'Statistic', 'Period', 'Threshold']), {
      Namespace: 'SubmissionRelay',
      MetricName: 'AuthFailures',
      Dimensions: [{ Name: 'Stage', Value: 'prod' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 50,
    });
    dev.service.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'AuthFailures', Threshold: 20 });
  });

  test('no healthy targets: NLB HealthyHostCount minimum below 1 for 2 minutes, missing data breaching', () => {
    for (const [port, group] of [
      ['587', 'RelayServiceSubmissionTargets'],
      ['465', 'RelayServiceSubmissionsTargets'],
    ] as const) {
      const properties = alarm(`no-healthy-targets-${port}`);
      assert.equal(properties.Namespace, 'AWS/NetworkELB');
      assert.equal(properties.MetricName, 'HealthyHostCount');
      assert.equal(properties.Statistic, 'Minimum');
      assert.equal(properties.Period, 60);
      assert.equal(properties.EvaluationPeriods, 2);
      assert.equal(properties.Threshold, 1);
      assert.equal(properties.ComparisonOperator, 'LessThanThreshold');
      assert.equal(properties.TreatMissingData, 'breaching');
      assert.match(JSON.stringify(properties.Dimensions), new RegExp(group));
      assert.deepEqual(
        properties.Dimensions.map((d: { Name: string }) => d.Name).sort(),
        ['LoadBalancer', 'TargetGroup'],
      );
    }
  });

  test('policy function errors and throttles: any in 5 minutes', () => {
    for (const [name, metric] of [
      ['policy-errors', 'Errors'],
      ['policy-throttles', 'Throttles'],
    ] as const) {
      const properties = alarm(name);
      assert.equal(properties.Namespace, 'AWS/Lambda');
      assert.equal(properties.MetricName, metric);
      assert.equal(properties.Statistic, 'Sum');
      assert.equal(properties.Threshold, 1);
      assert.deepEqual(properties.Dimensions, [
        { Name: 'FunctionName', Value: { Ref: resourceById(template, 'AWS::Lambda::Function', 'RelayPolicyFunction').id } },
      ]);
    }
  });

  test('bounce and complaint rates: SES reputation metrics, below the SES review thresholds', () => {
    const bounce = alarm('ses-bounce-rate');
    assert.equal(bounce.Namespace, 'AWS/SES');
    assert.equal(bounce.MetricName, 'Reputation.BounceRate');
    assert.ok(bounce.Threshold < 0.05 && bounce.Threshold > 0);
    const complaint = alarm('ses-complaint-rate');
    assert.equal(complaint.Namespace, 'AWS/SES');
    assert.equal(complaint.MetricName, 'Reputation.ComplaintRate');
    assert.ok(complaint.Threshold < 0.001 && complaint.Threshold > 0);
  });
});

describe('alarm topic', () => {
  test('lets CloudWatch publish, for this account and this stage\'s alarms only', () => {
    const topic = resourceById(template, 'AWS::SNS::Topic', 'Alarms').id;
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudWatchAlarmsOfThisStage',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: topic },
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:SubmissionRelay-prod-*']],
                },
              },
            },
          },
        ]),
      },
    });
    // Every alarm of the stage is named under that prefix, or the topic would refuse it.
    for (const resource of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      assert.match(resource.Properties.AlarmName as string, /^SubmissionRelay-prod-/);
    }
  });

  test('an existing topic (alarmTopicArn) is used as is: no topic of our own', () => {
    withTopic.service.resourceCountIs('AWS::SNS::Topic', 0);
    withTopic.service.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:ops-alarms'],
    });
    assert.equal(withTopic.service.findOutputs('AlarmTopicArn').AlarmTopicArn!.Value, 'arn:aws:sns:eu-west-1:123456789012:ops-alarms');
  });

  test('refuses non-TLS publishing', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('subscribes the stage\'s alarm e-mail when one is set', () => {
    dev.service.resourceCountIs('AWS::SNS::Subscription', 0);
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});

describe('dashboard', () => {
  test('shows the relay metrics, the NLB, the service, the policy function and SES', () => {
    const { resource } = resourceById(template, 'AWS::CloudWatch::Dashboard', 'RelayMonitoringDashboard');
    assert.equal(resource.Properties.DashboardName, 'SubmissionRelay-prod');
    const body = JSON.stringify(resource.Properties.DashboardBody);
    for (const expected of [
      'MessagesAccepted',
      'MetricName=\\\\\\"MessagesRejected\\\\\\"',
      'Reason',
      'AuthFailures',
      'SesErrors',
      'SesLatency',
      'Connections',
      'ActiveFlowCount',
      'HealthyHostCount',
      'CPUUtilization',
      'Invocations',
      'Reputation.BounceRate',
      'Reputation.ComplaintRate',
      'DeliveryDelay',
      'ses:configuration-set',
    ]) {
      assert.ok(body.includes(expected), `dashboard shows ${expected}`);
    }
  });
});

describe('log retention per stage', () => {
  test('every log group has a retention: a year in prod, a week in dev', () => {
    for (const [synth, days] of [
      [prod, 365],
      [dev, 7],
    ] as const) {
      const groups = Object.values(synth.service.findResources('AWS::Logs::LogGroup'));
      assert.equal(groups.length, 5, 'relay, policy function, SES quota probe, reputation function, rejected flows');
      for (const group of groups) assert.equal(group.Properties.RetentionInDays, days);
    }
  });

  test('the policy function logs to its managed log group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^RelayPolicyLogs') }, LogFormat: 'JSON' },
    });
  });
});

function pick(object: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}
