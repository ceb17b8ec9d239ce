import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PolicyFunction } from './policy-function.ts';
import { RelayMetrics } from './relay-metrics.ts';
import { RelayMonitoring } from './relay-monitoring.ts';
import { RelayNetwork } from './relay-network.ts';
import { stackOutput } from './stack-output.ts';
import { DEFAULT_POLICY_MAX_IN_FLIGHT, RELAY_PORTS, RelayService } from './relay-service.ts';
import { SesQuotaProbe } from './ses-quota-probe.ts';
import type { IRelayTables } from './relay-tables.ts';
import type { ISendingIdentities } from './sending-identities.ts';

export interface SubmissionRelayProps {
  /** Stage name (dev, prod, ...): the `Stage` metric dimension and part of alarm and dashboard names. */
  readonly stage: string;
  /**
   * Public host name of the relay: what clients connect to, what the relay
   * greets with, and the name on the TLS certificate.
   */
  readonly hostname: string;
  /**
   * Secrets Manager secret with the TLS certificate, as JSON
   * `{"certificate": "<PEM chain>", "privateKey": "<PEM key>"}` (see `RelayState`).
   */
  readonly certificateSecret: secretsmanager.ISecret;
  /** The users and counters tables (see `RelayState`). */
  readonly tables: IRelayTables;
  /** The verified sending domains and the configuration set (see `RelayState`). */
  readonly sendingIdentities: ISendingIdentities;
  /**
   * Largest message the relay accepts, in bytes (announced with SIZE).
   * @default 26214400 (25 MiB)
   */
  readonly maxMessageBytes?: number;
  /**
   * Tasks kept running at least; autoscaling never goes below.
   * @default 2
   */
  readonly desiredCount?: number;
  /**
   * Tasks autoscaling may run at most.
   * @default 6
   */
  readonly maxCount?: number;
  /**
   * Task size: CPU units.
   * @default 512
   */
  readonly taskCpu?: number;
  /**
   * Task size: memory in MiB.
   * @default 1024
   */
  readonly taskMemoryMiB?: number;
  /**
   * Retention of every log group (relay, policy function, rejected VPC flows).
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Keep log groups and the load balancer when they would be removed (a retain
   * policy, never deletion protection: a failed first deploy must roll back).
   * @default true
   */
  readonly retain?: boolean;
  /**
   * SNS topic that receives alarm and OK notifications.
   * @default - alarms are created without actions
   */
  readonly alarmTopic?: sns.ITopic;
  /**
   * Drain time on shutdown, seconds; sets the relay's grace, the NLB deregistration delay and the stop timeout.
   * @default 90
   */
  readonly shutdownGraceSeconds?: number;
  /**
   * `LOG_LEVEL` of the relay.
   * @default 'info'
   */
  readonly logLevel?: string;
  /**
   * CloudWatch Container Insights.
   * @default true
   */
  readonly containerInsights?: boolean;
  /**
   * Open connections per task that connection-count autoscaling aims for.
   * @default 200
   */
  readonly connectionsPerTask?: number;
  /**
   * Failed AUTH attempts in 5 minutes that raise the AUTH-failure alarm.
   * @default 50
   */
  readonly authFailureAlarmThreshold?: number;
  /**
   * Reserved concurrency of the policy function: a number, or `auto`: what the
   * tasks can ask of it at most (`maxCount` tasks × `policyMaxInFlight` Invokes).
   * Lambda keeps 100 of the account's concurrency unreserved, so a new account
   * (quota 10) must ask for more first (`relayctl doctor` checks).
   * @default - none, the account's unreserved pool
   */
  readonly policyReservedConcurrency?: number | 'auto';
  /**
   * Policy Invokes one task has in flight at most.
   * @default 16
   */
  readonly policyMaxInFlight?: number;
  /**
   * The SES account is still in the sandbox (see `RelayServiceProps.sesSandbox`).
   * @default false
   */
  readonly sesSandbox?: boolean;
  /**
   * The certificate export function of the data stack, to alarm on its failures.
   * @default - none watched
   */
  readonly certificateExport?: { readonly function: lambda.IFunction; readonly timeout: Duration };
  /**
   * Public hosted zone in which to create an alias A record for `hostname` pointing at the NLB.
   * @default - no record; point the name at the `LoadBalancerDnsName` output yourself
   */
  readonly hostnameZone?: route53.IHostedZone;
  /**
   * VPC to run in; it needs public subnets in at least two AZs.
   * @default - a new VPC (two AZs, public subnets, no NAT gateway)
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The relay image.
   * @default - `relay/Dockerfile` of this repository, linux/arm64
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Entry file of the policy function.
   * @default - `lambda/handler.ts` of this repository
   */
  readonly policyFunctionEntry?: string;
  /**
   * CloudWatch namespace of the relay's metrics (`METRICS_NAMESPACE`).
   * @default 'SubmissionRelay'
   */
  readonly metricsNamespace?: string;
}

/**
 * An authenticated SMTP submission relay in front of Amazon SES: network, NLB,
 * Fargate service, policy function, alarms and dashboard. The stateful parts
 * (tables, identities, certificate) come in as props, from `RelayState`, so that
 * this construct can be replaced or redeployed without touching them.
 */
export class SubmissionRelay extends Construct {
  readonly network?: RelayNetwork;
  readonly policyFunction: PolicyFunction;
  readonly service: RelayService;
  readonly monitoring: RelayMonitoring;
  readonly metrics: RelayMetrics;
  readonly sesQuota: SesQuotaProbe;

  constructor(scope: Construct, id: string, props: SubmissionRelayProps) {
    super(scope, id);
    const retain = props.retain ?? true;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const logRemovalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    let vpc = props.vpc;
    if (!vpc) {
      this.network = new RelayNetwork(this, 'Network', { flowLogRetention: logRetention, logRemovalPolicy });
      vpc = this.network.vpc;
    }

    this.metrics = new RelayMetrics({ stage: props.stage, namespace: props.metricsNamespace });

    this.policyFunction = new PolicyFunction(this, 'Policy', {
      tables: props.tables,
      entry: props.policyFunctionEntry,
      ...(props.policyReservedConcurrency
        ? {
            reservedConcurrency:
              props.policyReservedConcurrency === 'auto'
                ? (props.maxCount ?? 6) * (props.policyMaxInFlight ?? DEFAULT_POLICY_MAX_IN_FLIGHT)
                : props.policyReservedConcurrency,
          }
        : {}),
      logRetention,
      logRemovalPolicy,
    });

    this.service = new RelayService(this, 'Service', {
      vpc,
      stage: props.stage,
      hostname: props.hostname,
      certificateSecret: props.certificateSecret,
      policyFunction: this.policyFunction,
      tables: props.tables,
      sending: props.sendingIdentities,
      metrics: this.metrics,
      // Unset settings fall through to RelayService's own defaults.
      image: props.image,
      cpu: props.taskCpu,
      memoryLimitMiB: props.taskMemoryMiB,
      desiredCount: props.desiredCount,
      maxCount: props.maxCount,
      maxMessageBytes: props.maxMessageBytes,
      shutdownGraceSeconds: props.shutdownGraceSeconds,
      logRetention,
      logRemovalPolicy,
      logLevel: props.logLevel,
      containerInsights: props.containerInsights,
      connectionsPerTask: props.connectionsPerTask,
      retainLoadBalancer: retain,
      ...(props.policyMaxInFlight ? { policyMaxInFlight: props.policyMaxInFlight } : {}),
      ...(props.sesSandbox ? { sesSandbox: props.sesSandbox } : {}),
    });

    this.sesQuota = new SesQuotaProbe(this, 'SesQuota', { metrics: this.metrics, logRetention, logRemovalPolicy });

    this.monitoring = new RelayMonitoring(this, 'Monitoring', {
      stage: props.stage,
      metrics: this.metrics,
      policyFunction: this.policyFunction.function,
      service: this.service.service,
      loadBalancer: this.service.loadBalancer,
      targetGroups: {
        [RELAY_PORTS.submission]: this.service.submissionTargets,
        [RELAY_PORTS.submissions]: this.service.submissionsTargets,
      },
      configurationSetName: props.sendingIdentities.configurationSetName,
      alarmTopic: props.alarmTopic,
      authFailureThreshold: props.authFailureAlarmThreshold,
      minimumTasks: props.desiredCount ?? 2,
      containerInsights: props.containerInsights ?? true,
    });
    this.monitoring.watchFunction('ses-quota-probe', this.sesQuota.probe.function, SesQuotaProbe.TIMEOUT);
    if (props.certificateExport) {
      this.monitoring.watchFunction('certificate-export', props.certificateExport.function, props.certificateExport.timeout);
    }
    // A deployment whose new tasks make SES errors or policy failures jump rolls itself back.
    this.service.service.enableDeploymentAlarms(
      this.monitoring.deploymentAlarms.map((alarm) => alarm.alarmName),
      { behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM },
    );

    if (props.hostnameZone) {
      new route53.ARecord(this, 'HostnameRecord', {
        zone: props.hostnameZone,
        recordName: props.hostname,
        target: route53.RecordTarget.fromAlias(new route53Targets.LoadBalancerTarget(this.service.loadBalancer)),
      });
    }

    stackOutput(this, 'LoadBalancerDnsName', `DNS name of the NLB: point ${props.hostname} at it (CNAME, or alias A record)`, this.service.loadBalancer.loadBalancerDnsName);
    stackOutput(this, 'ClusterName', 'ECS cluster of the relay', this.service.cluster.clusterName);
    stackOutput(this, 'ServiceName', 'ECS service of the relay', this.service.service.serviceName);
    stackOutput(this, 'PolicyFunctionName', 'The policy Lambda', this.policyFunction.function.functionName);
    stackOutput(this, 'RelayLogGroupName', 'Log group of the relay tasks (sessions, certificate reloads)', this.service.logGroup.logGroupName);
    stackOutput(this, 'DashboardName', 'CloudWatch dashboard', this.monitoring.dashboard.dashboardName);
  }
}
