import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SES_QUOTA_METRIC_NAMES } from '../lambda/ses-quota/ses-quota-metrics.ts';

/**
 * Names of the metrics the relay writes to stdout in CloudWatch Embedded Metric
 * Format. The contract with `relay/`: namespace from `METRICS_NAMESPACE`, every
 * metric with dimension set [Stage]; `MessagesRejected` with [Stage, Reason].
 * `Connections` is a gauge (open SMTP connections of one task) that every task
 * emits periodically, also when it is 0: its Average over all samples is the
 * mean load per task, which connection-count autoscaling tracks.
 */
export const RELAY_METRIC_NAMES = {
  messagesAccepted: 'MessagesAccepted',
  messagesRejected: 'MessagesRejected',
  authFailures: 'AuthFailures',
  sesErrors: 'SesErrors',
  sesLatency: 'SesLatency',
  connections: 'Connections',
  certificateDaysLeft: 'CertificateDaysLeft',
} as const;

/** Default namespace of the relay's metrics. */
export const DEFAULT_METRICS_NAMESPACE = 'SubmissionRelay';

export interface RelayMetricsProps {
  /** Stage; the `Stage` dimension. */
  readonly stage: string;
  /**
   * CloudWatch namespace the relay writes to.
   * @default 'SubmissionRelay'
   */
  readonly namespace?: string;
}

/** Typed access to the relay's own metrics, for alarms, dashboards and autoscaling. */
export class RelayMetrics {
  readonly namespace: string;
  readonly stage: string;

  constructor(props: RelayMetricsProps) {
    this.namespace = props.namespace ?? DEFAULT_METRICS_NAMESPACE;
    this.stage = props.stage;
  }

  /** Messages SES accepted (Sum). */
  messagesAccepted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.messagesAccepted, 'Sum', props);
  }

  /** Rejected messages, one line per `Reason` dimension value (Sum), found by search. */
  messagesRejectedByReason(period = Duration.minutes(5)): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${this.namespace},Reason,Stage} MetricName="${RELAY_METRIC_NAMES.messagesRejected}" Stage="${this.stage}"', 'Sum', ${period.toSeconds()})`,
      label: 'Rejected',
      period,
      usingMetrics: {},
    });
  }

  /** Messages refused for one reason (`auth-unavailable`, `sender-unavailable`, ...), Sum. */
  messagesRejected(reason: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.messagesRejected, 'Sum', { dimensionsMap: { Stage: this.stage, Reason: reason }, ...props });
  }

  /** Days left on the certificate each task serves (Minimum over the tasks unless told otherwise). */
  certificateDaysLeft(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.certificateDaysLeft, 'Minimum', props);
  }

  /** Share of the SES 24-hour sending quota used, percent, from the quota probe (Maximum). */
  sesQuotaUsedPercent(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(SES_QUOTA_METRIC_NAMES.usedPercent, 'Maximum', { unit: cloudwatch.Unit.PERCENT, ...props });
  }

  /** Failed AUTH attempts (Sum). */
  authFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.authFailures, 'Sum', props);
  }

  /** SES calls that failed (Sum). */
  sesErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.sesErrors, 'Sum', props);
  }

  /** Time from end of DATA to SES's answer, in milliseconds (p99 unless told otherwise). */
  sesLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.sesLatency, 'p99', { unit: cloudwatch.Unit.MILLISECONDS, ...props });
  }

  /** Open SMTP connections per task (Average of the tasks' samples unless told otherwise). */
  connections(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(RELAY_METRIC_NAMES.connections, 'Average', props);
  }

  private metric(metricName: string, statistic: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { Stage: this.stage },
      statistic,
      period: Duration.minutes(5),
      ...props,
    });
  }
}
