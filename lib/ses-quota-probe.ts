import * as path from 'node:path';
import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROJECT_ROOT } from './project-root.ts';
import type { RelayMetrics } from './relay-metrics.ts';
import { RelayFunction } from './relay-function.ts';

export interface SesQuotaProbeProps {
  /** Namespace and stage the quota metrics are written under. */
  readonly metrics: RelayMetrics;
  /**
   * How often SES is asked.
   * @default Duration.minutes(5)
   */
  readonly interval?: Duration;
  readonly logRetention?: logs.RetentionDays;
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A small scheduled function that reads the SES account's sending quota
 * (`GetAccount`: sent in the last 24 hours against the 24-hour maximum) and
 * writes it as EMF metrics (`SesQuotaUsedPercent`, ...) for the headroom
 * alarm. SES publishes no such metric itself.
 */
export class SesQuotaProbe extends Construct {
  readonly probe: RelayFunction;
  static readonly TIMEOUT = Duration.seconds(30);

  constructor(scope: Construct, id: string, props: SesQuotaProbeProps) {
    super(scope, id);
    this.probe = new RelayFunction(this, 'Probe', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'ses-quota', 'handler.ts'),
      description: 'Submission relay: publishes the SES 24-hour quota use as a metric.',
      timeout: SesQuotaProbe.TIMEOUT,
      environment: { METRICS_NAMESPACE: props.metrics.namespace, STAGE: props.metrics.stage },
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.logRemovalPolicy ? { logRemovalPolicy: props.logRemovalPolicy } : {}),
    });
    this.probe.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ses:GetAccount'], resources: ['*'] }));
    Validations.of(this.probe.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ses:GetAccount reads account-wide settings (sending quota, sandbox state) and supports no resource-level permissions, so its resource must be "*"; it is the only action on "*" and it is read-only.',
    });
    new events.Rule(this, 'Schedule', {
      description: 'Publish the SES sending-quota use for the headroom alarm',
      schedule: events.Schedule.rate(props.interval ?? Duration.minutes(5)),
      targets: [new targets.LambdaFunction(this.probe.function, { retryAttempts: 0 })],
    });
  }
}
