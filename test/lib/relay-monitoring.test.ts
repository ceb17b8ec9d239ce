import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { resourceById, synthRelay } from './support/relay-app.ts';

const prod = synthRelay({ stage: 'prod' });
const dev = synthRelay({ stage: 'dev' });
const withEmail = synthRelay({ stage: 'prod', overrides: { alarmEmail: 'ops@example.com' } });
const template = prod.service;

function alarm(name: string): Record<string, any> {
  const found = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
    (resource) => resource.Properties.AlarmName === `SubmissionRelay-prod-${name}`,
  );
  assert.equal(found.length, 1, `alarm ${name}`);
  return found[0]!.Properties;
}

describe('alarms', () => {
  test('eight alarms: SES errors, AUTH spike, no healthy target (x2), policy errors and throttles, bounce and complaint rates', () => {
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((resource) => resource.Properties.AlarmName as string)
      .sort();
    assert.deepEqual(names, [
      'SubmissionRelay-prod-auth-failure-spike',
      'SubmissionRelay-prod-no-healthy-targets-465',
      'SubmissionRelay-prod-no-healthy-targets-587',
      'SubmissionRelay-prod-policy-errors',
      'SubmissionRelay-prod-policy-throttles',
      'SubmissionRelay-prod-ses-bounce-rate',
      'SubmissionRelay-prod-ses-complaint-rate',
      'SubmissionRelay-prod-ses-errors',
    ]);
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
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    withEmail.service.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
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
      assert.equal(groups.length, 3, 'relay, policy function, rejected flows');
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
