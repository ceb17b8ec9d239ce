import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RelayMetrics } from './relay-metrics.ts';
import { PUBLISHED_SES_EVENTS, SES_CONFIGURATION_SET_DIMENSION } from './sending-identities.ts';

export interface RelayMonitoringProps {
  /** Stage; part of alarm and dashboard names. */
  readonly stage: string;
  /** The relay's own metrics. */
  readonly metrics: RelayMetrics;
  /** The policy function. */
  readonly policyFunction: lambda.IFunction;
  /** The Fargate service. */
  readonly service: ecs.FargateService;
  /** The NLB. */
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** The NLB's target groups, by listener port. */
  readonly targetGroups: Readonly<Record<number, elbv2.NetworkTargetGroup>>;
  /** SES configuration set the relay sends with. */
  readonly configurationSetName: string;
  /**
   * Where alarms (and their return to OK) are sent.
   * @default - alarms change state without notifying anyone
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Failed AUTH attempts in 5 minutes that count as a spike (password guessing).
   * @default 50
   */
  readonly authFailureThreshold?: number;
  /**
   * Failed SES calls in 5 minutes that raise the alarm.
   * @default 5
   */
  readonly sesErrorThreshold?: number;
  /**
   * SES account bounce rate (fraction) that raises the alarm. SES reviews an account at 5 %.
   * @default 0.04
   */
  readonly bounceRateThreshold?: number;
  /**
   * SES account complaint rate (fraction) that raises the alarm. SES reviews an account at 0.1 %.
   * @default 0.0008
   */
  readonly complaintRateThreshold?: number;
  /** Tasks the service keeps running at least: fewer running or healthy raises an alarm. */
  readonly minimumTasks: number;
  /**
   * Watch the ECS running-task count (a Container Insights metric).
   * @default true
   */
  readonly containerInsights?: boolean;
  /**
   * Policy-unavailable replies (454 at AUTH or MAIL) in 5 minutes that raise the alarm.
   * @default 5
   */
  readonly policyUnavailableThreshold?: number;
  /**
   * Share (percent) of the SES 24-hour quota used that raises the alarm.
   * @default 80
   */
  readonly sesQuotaThresholdPercent?: number;
  /**
   * Days left on the served certificate under which the alarm is raised.
   * @default 14
   */
  readonly certificateDaysLeftThreshold?: number;
}

/** Share of a function's timeout past which its slowest run counts as "near the timeout". */
const NEAR_TIMEOUT_SHARE = 0.8;

/**
 * Alarms and a dashboard for the relay: the relay's EMF metrics (messages
 * accepted and rejected by reason, AUTH failures, SES errors and latency,
 * connections), the NLB, the service, the policy function and SES (the
 * configuration set's event counts and the account's reputation rates).
 *
 * Alarms: SES errors, AUTH-failure spike, no healthy target (per listener),
 * policy function errors and throttles, bounce rate, complaint rate.
 */
export class RelayMonitoring extends Construct {
  /** Every alarm made here, including those added later with `watchFunction` and `watchDeadLetterQueue`. */
  readonly alarms: cloudwatch.Alarm[];
  readonly dashboard: cloudwatch.Dashboard;
  /** Alarm names start with this: `SubmissionRelay-<stage>-`. The alarm topic admits CloudWatch for these only. */
  readonly alarmNamePrefix: string;
  /** Alarms a deployment watches: ECS rolls a deployment back while one of them is in ALARM. */
  readonly deploymentAlarms: readonly cloudwatch.Alarm[];
  private readonly alarm: (alarmId: string, alarmProps: RelayAlarmProps) => cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: RelayMonitoringProps) {
    super(scope, id);
    const prefix = `SubmissionRelay-${props.stage}`;
    this.alarmNamePrefix = `${prefix}-`;
    const fiveMinutes = Duration.minutes(5);
    const alarms: cloudwatch.Alarm[] = [];
    // Most alarms fire on one period at or over the threshold, and a quiet period (no data) is fine.
    const alarm = (alarmId: string, alarmProps: RelayAlarmProps): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...alarmProps,
      });
      if (props.alarmTopic) {
        created.addAlarmAction(new actions.SnsAction(props.alarmTopic));
        created.addOkAction(new actions.SnsAction(props.alarmTopic));
      }
      alarms.push(created);
      return created;
    };
    this.alarm = alarm;
    this.alarms = alarms;

    const sesErrors = alarm('SesErrors', {
      alarmName: `${prefix}-ses-errors`,
      alarmDescription: 'SES refused or failed sends: check the relay log (reason) and the SES account status.',
      metric: props.metrics.sesErrors({ period: fiveMinutes }),
      threshold: props.sesErrorThreshold ?? 5,
    });

    alarm('AuthFailures', {
      alarmName: `${prefix}-auth-failure-spike`,
      alarmDescription: 'Many failed AUTH attempts: password guessing or a client with a stale password.',
      metric: props.metrics.authFailures({ period: fiveMinutes }),
      threshold: props.authFailureThreshold ?? 50,
    });

    for (const [port, targetGroup] of Object.entries(props.targetGroups)) {
      alarm(`HealthyTargetsBelowMinimum${port}`, {
        alarmName: `${prefix}-healthy-targets-below-minimum-${port}`,
        alarmDescription: `Fewer than ${props.minimumTasks} healthy relay tasks behind port ${port} for 5 minutes: less capacity and no spare task.`,
        metric: targetGroup.metrics.healthyHostCount({ statistic: 'Minimum', period: Duration.minutes(1) }),
        threshold: props.minimumTasks,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      alarm(`NoHealthyTargets${port}`, {
        alarmName: `${prefix}-no-healthy-targets-${port}`,
        alarmDescription: `No healthy relay task behind port ${port}: clients cannot connect.`,
        metric: targetGroup.metrics.healthyHostCount({ statistic: 'Minimum', period: Duration.minutes(1) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 2,
        // No data from the NLB means nothing is known to be healthy.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }

    alarm('PolicyErrors', {
      alarmName: `${prefix}-policy-errors`,
      alarmDescription: 'The policy function could not decide (store failure, bug): clients got 454 4.7.0.',
      metric: props.policyFunction.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
    });

    alarm('PolicyThrottles', {
      alarmName: `${prefix}-policy-throttles`,
      alarmDescription: 'The policy function was throttled (concurrency): clients got 454 4.7.0.',
      metric: props.policyFunction.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
    });

    alarm('PolicyDuration', {
      alarmName: `${prefix}-policy-duration-near-timeout`,
      alarmDescription: `The slowest policy decision took over ${NEAR_TIMEOUT_SHARE * 100} % of the function's timeout: a little slower and clients get 454 4.7.0.`,
      metric: props.policyFunction.metricDuration({ period: fiveMinutes, statistic: 'Maximum' }),
      threshold: nearTimeoutMs(props.policyFunction),
    });

    const policyUnavailable = alarm('PolicyUnavailable', {
      alarmName: `${prefix}-policy-unavailable`,
      alarmDescription: 'Clients were told 454 4.7.0 because no policy decision came (AUTH or sender check): see the policy function\'s errors, throttles and duration.',
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(auth, 0) + FILL(sender, 0)',
        usingMetrics: {
          auth: props.metrics.messagesRejected('auth-unavailable', { period: fiveMinutes }),
          sender: props.metrics.messagesRejected('sender-unavailable', { period: fiveMinutes }),
        },
        label: 'Policy unavailable (454)',
        period: fiveMinutes,
      }),
      threshold: props.policyUnavailableThreshold ?? 5,
    });

    if (props.containerInsights ?? true) {
      alarm('RunningTasks', {
        alarmName: `${prefix}-running-tasks-below-minimum`,
        alarmDescription: `Fewer than ${props.minimumTasks} relay tasks running for 5 minutes: tasks are failing to start or being stopped (see the ECS service events).`,
        metric: new cloudwatch.Metric({
          namespace: 'ECS/ContainerInsights',
          metricName: 'RunningTaskCount',
          dimensionsMap: { ClusterName: props.service.cluster.clusterName, ServiceName: props.service.serviceName },
          statistic: 'Minimum',
          period: Duration.minutes(1),
        }),
        threshold: props.minimumTasks,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
    }

    alarm('SesQuota', {
      alarmName: `${prefix}-ses-quota-headroom`,
      alarmDescription: `Over ${props.sesQuotaThresholdPercent ?? 80} % of the SES 24-hour sending quota used: ask AWS for a higher quota before SES refuses mail.`,
      metric: props.metrics.sesQuotaUsedPercent({ period: Duration.minutes(15) }),
      threshold: props.sesQuotaThresholdPercent ?? 80,
    });

    alarm('CertificateDaysLeft', {
      alarmName: `${prefix}-certificate-expiring`,
      alarmDescription: `A relay task serves a certificate with fewer than ${props.certificateDaysLeftThreshold ?? 14} days left: the renewal has not reached the secret (see the export function's log, or renew it yourself).`,
      metric: props.metrics.certificateDaysLeft({ period: Duration.hours(1) }),
      threshold: props.certificateDaysLeftThreshold ?? 14,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    });

    const bounceRate = sesReputation('Reputation.BounceRate');
    const complaintRate = sesReputation('Reputation.ComplaintRate');
    alarm('BounceRate', {
      alarmName: `${prefix}-ses-bounce-rate`,
      alarmDescription: 'SES account bounce rate approaches the 5 % review threshold: find the sender of the bounces.',
      metric: bounceRate,
      threshold: props.bounceRateThreshold ?? 0.04,
    });
    alarm('ComplaintRate', {
      alarmName: `${prefix}-ses-complaint-rate`,
      alarmDescription: 'SES account complaint rate approaches the 0.1 % review threshold.',
      metric: complaintRate,
      threshold: props.complaintRateThreshold ?? 0.0008,
    });
    this.deploymentAlarms = [sesErrors, policyUnavailable];

    // --- Dashboard ----------------------------------------------------------------
    const sesEvent = (metricName: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: 'AWS/SES',
        metricName,
        dimensionsMap: { [SES_CONFIGURATION_SET_DIMENSION]: props.configurationSetName },
        statistic: 'Sum',
        period: fiveMinutes,
      });
    const sesEventNames: Record<string, string> = {
      send: 'Send',
      reject: 'Reject',
      bounce: 'Bounce',
      complaint: 'Complaint',
      deliveryDelay: 'DeliveryDelay',
    };
    const targetGroups = Object.entries(props.targetGroups);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: prefix,
      defaultInterval: Duration.hours(3),
      widgets: [
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms, width: 24, height: 3 })],
        [
          new cloudwatch.GraphWidget({
            title: 'Messages accepted / rejected by reason',
            left: [props.metrics.messagesAccepted({ label: 'Accepted' }), props.metrics.messagesRejectedByReason()],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'AUTH failures and SES errors',
            left: [props.metrics.authFailures({ label: 'AUTH failures' }), props.metrics.sesErrors({ label: 'SES errors' })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Time to SES (ms)',
            left: ['p50', 'p90', 'p99'].map((statistic) => props.metrics.sesLatency({ statistic, label: statistic })),
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'SMTP connections per task',
            left: [
              props.metrics.connections({ period: Duration.minutes(1), label: 'Average' }),
              props.metrics.connections({ period: Duration.minutes(1), statistic: 'Maximum', label: 'Maximum' }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'NLB flows',
            left: [
              props.loadBalancer.metrics.activeFlowCount({ label: 'Active' }),
              props.loadBalancer.metrics.newFlowCount({ label: 'New' }),
            ],
            right: [props.loadBalancer.metrics.tcpTargetResetCount({ label: 'Target resets' })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Healthy tasks per listener',
            left: targetGroups.map(([port, group]) =>
              group.metrics.healthyHostCount({ statistic: 'Minimum', period: Duration.minutes(1), label: `:${port}` }),
            ),
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Service CPU / memory (%)',
            left: [
              props.service.metricCpuUtilization({ label: 'CPU' }),
              props.service.metricMemoryUtilization({ label: 'Memory' }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Policy function',
            left: [
              props.policyFunction.metricInvocations({ label: 'Invocations' }),
              props.policyFunction.metricErrors({ label: 'Errors' }),
              props.policyFunction.metricThrottles({ label: 'Throttles' }),
            ],
            right: [props.policyFunction.metricDuration({ statistic: 'p99', label: 'Duration p99 (ms)' })],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: `SES events (${props.configurationSetName})`,
            left: PUBLISHED_SES_EVENTS.map((event) => sesEvent(sesEventNames[event] ?? event)),
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'SES account reputation',
            left: [bounceRate.with({ label: 'Bounce rate' }), complaintRate.with({ label: 'Complaint rate' })],
            leftAnnotations: [
              { value: 0.05, label: 'SES review: bounces 5 %', color: cloudwatch.Color.RED },
              { value: 0.001, label: 'SES review: complaints 0.1 %', color: cloudwatch.Color.ORANGE },
            ],
            width: 24,
          }),
        ],
      ],
    });
  }

  /**
   * Alarms on another function of the deployment (the certificate export, the
   * SES quota probe, the reputation guard): any error or throttle, and its
   * slowest run near the timeout.
   */
  watchFunction(name: string, fn: lambda.IFunction, timeout: Duration): void {
    const fiveMinutes = Duration.minutes(5);
    const id = name.replace(/(^|-)([a-z])/g, (_match, _dash: string, letter: string) => letter.toUpperCase());
    this.alarm(`${id}Errors`, {
      alarmName: `${this.alarmNamePrefix}${name}-errors`,
      alarmDescription: `The ${name} function failed: see its log.`,
      metric: fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
    });
    this.alarm(`${id}Throttles`, {
      alarmName: `${this.alarmNamePrefix}${name}-throttles`,
      alarmDescription: `The ${name} function was throttled (account concurrency).`,
      metric: fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
    });
    this.alarm(`${id}Duration`, {
      alarmName: `${this.alarmNamePrefix}${name}-duration-near-timeout`,
      alarmDescription: `The ${name} function ran for over ${NEAR_TIMEOUT_SHARE * 100} % of its timeout.`,
      metric: fn.metricDuration({ period: fiveMinutes, statistic: 'Maximum' }),
      threshold: timeout.toMilliseconds() * NEAR_TIMEOUT_SHARE,
    });
  }

  /** Alarms as soon as a dead-letter queue holds a message: an event some function could not handle. */
  watchDeadLetterQueue(name: string, queue: sqs.IQueue): cloudwatch.Alarm {
    const id = name.replace(/(^|-)([a-z])/g, (_match, _dash: string, letter: string) => letter.toUpperCase());
    return this.alarm(`${id}DeadLetters`, {
      alarmName: `${this.alarmNamePrefix}${name}-dead-letters`,
      alarmDescription: `Messages wait in the ${name} dead-letter queue: events that were not handled (see the function's log, then redrive).`,
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
    });
  }
}

type RelayAlarmProps = Omit<cloudwatch.AlarmProps, 'comparisonOperator' | 'evaluationPeriods' | 'treatMissingData'> &
  Partial<Pick<cloudwatch.AlarmProps, 'comparisonOperator' | 'evaluationPeriods' | 'treatMissingData'>>;

function nearTimeoutMs(fn: lambda.IFunction): number {
  const timeout = (fn as lambda.Function).timeout;
  if (!timeout) throw new Error('the function has no timeout to compare its duration with');
  return timeout.toMilliseconds() * NEAR_TIMEOUT_SHARE;
}

/** SES's account-wide reputation rate (a fraction, 0-1), which is what SES enforces on. */
function sesReputation(metricName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/SES',
    metricName,
    statistic: 'Maximum',
    period: Duration.minutes(15),
  });
}
