import { Aws, Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { PolicyFunction } from './policy-function.ts';
import { PROJECT_ROOT } from './project-root.ts';
import type { RelayMetrics } from './relay-metrics.ts';
import type { IRelayTables } from './relay-tables.ts';
import type { ISendingIdentities } from './sending-identities.ts';

/**
 * Ports of the relay. Clients reach the load balancer on the standard ports;
 * the container listens on unprivileged ports because it runs as a non-root
 * user and ECS/Fargate gives such a process no way to bind below 1024 (no
 * CAP_NET_BIND_SERVICE for non-root, aws/containers-roadmap#1721). The NLB maps
 * one to the other, and the client's address survives (client IP preservation).
 */
export const RELAY_PORTS = {
  /** Submission with STARTTLS (RFC 6409): listener port. */
  submission: 587,
  /** Submission over implicit TLS (RFC 8314): listener port. */
  submissions: 465,
  /** Container port behind 587. */
  submissionContainer: 2587,
  /** Container port behind 465. */
  submissionsContainer: 2465,
  /** HTTP health endpoint (`GET /healthz`: 200 serving, 503 draining). */
  health: 8080,
} as const;

/** Name of the relay container in the task definition. */
export const RELAY_CONTAINER_NAME = 'relay';

export interface RelayServiceProps {
  /** The VPC; tasks and load balancer go into its public subnets. */
  readonly vpc: ec2.IVpc;
  /** Stage name (`STAGE`, metrics dimension). */
  readonly stage: string;
  /** Host name the relay greets with (`RELAY_HOSTNAME`); the certificate's name. */
  readonly hostname: string;
  /** JSON secret with `certificate` and `privateKey` PEMs. */
  readonly certificateSecret: secretsmanager.ISecret;
  /** The policy function the task invokes. */
  readonly policyFunction: PolicyFunction;
  /** Tables; the task updates the counters table. */
  readonly tables: IRelayTables;
  /** Sending identities and configuration set the task sends with. */
  readonly sending: ISendingIdentities;
  /** The relay's metrics (namespace, stage). */
  readonly metrics: RelayMetrics;
  /**
   * The relay image.
   * @default - built from `relay/Dockerfile` with the repository root as context, for linux/arm64
   */
  readonly image?: ecs.ContainerImage;
  /**
   * Task CPU units.
   * @default 512
   */
  readonly cpu?: number;
  /**
   * Task memory (MiB); the relay holds each message in memory until SES has it.
   * @default 1024
   */
  readonly memoryLimitMiB?: number;
  /**
   * Tasks kept running at least (autoscaling minimum).
   * @default 2
   */
  readonly desiredCount?: number;
  /**
   * Tasks autoscaling may run at most.
   * @default 6
   */
  readonly maxCount?: number;
  /**
   * Largest message accepted (SIZE extension), bytes. SES v2 takes up to 40 MB; the relay caps it at 39,999,000.
   * @default 26214400 (25 MiB)
   */
  readonly maxMessageBytes?: number;
  /**
   * How long the relay lets in-flight transactions finish after SIGTERM before
   * it answers the rest `421 4.3.2`. The NLB deregistration delay equals it;
   * the container stop timeout is 10 s more.
   * @default 90
   */
  readonly shutdownGraceSeconds?: number;
  /**
   * Retention of the relay's log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when it is removed from the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * `LOG_LEVEL` of the relay.
   * @default 'info'
   */
  readonly logLevel?: string;
  /**
   * CloudWatch Container Insights on the cluster.
   * @default true
   */
  readonly containerInsights?: boolean;
  /**
   * Target of connection-count autoscaling: open SMTP connections per task.
   * @default 200
   */
  readonly connectionsPerTask?: number;
  /**
   * Target of CPU autoscaling, percent.
   * @default 60
   */
  readonly cpuTargetPercent?: number;
  /**
   * Deletion protection on the load balancer (its DNS name is what clients' DNS points to).
   * @default true
   */
  readonly loadBalancerDeletionProtection?: boolean;
}

/**
 * The relay front end: a Fargate service (ARM64, non-root, read-only root
 * filesystem) behind an internet-facing Network Load Balancer with TCP
 * listeners 587 and 465.
 *
 * Client addresses: target groups of type IP with client IP preservation, so
 * the relay's sockets see the real client address with no PROXY protocol
 * parsing (smtp-server only knows v1). Consequence, accepted: a task cannot
 * reach itself through the NLB (hairpinning), which nothing does.
 *
 * Health: NLB HTTP checks of `GET /healthz` on 8080, so no SMTP session is
 * opened per check and nothing fills the logs.
 *
 * Security groups: the NLB has one that admits 587/465 (and ICMP for path MTU
 * discovery) from anywhere; the tasks admit only the NLB's group, on the two
 * container ports and the health port. That reference works with client IP
 * preservation, so the tasks' public addresses are not reachable directly.
 * Tasks send only HTTPS out (AWS APIs).
 *
 * Graceful deployments: ECS deregisters a stopping task, the NLB drains it for
 * `shutdownGraceSeconds` (no new connections, open ones continue), then ECS
 * sends SIGTERM and the relay drains for the same time before it answers
 * `421 4.3.2`; the stop timeout (grace + 10 s, at most 120 s) comes before
 * SIGKILL. A target that fails health checks is drained the same way instead of
 * having its connections reset.
 */
export class RelayService extends Construct {
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly submissionTargets: elbv2.NetworkTargetGroup;
  readonly submissionsTargets: elbv2.NetworkTargetGroup;
  readonly taskRole: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  readonly taskSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: RelayServiceProps) {
    super(scope, id);
    const graceSeconds = props.shutdownGraceSeconds ?? 90;
    if (graceSeconds < 5 || graceSeconds > 110) {
      throw new Error(`shutdownGraceSeconds must be 5-110 (stop timeout = grace + 10 s, ECS allows at most 120 s); got ${graceSeconds}`);
    }
    const desiredCount = props.desiredCount ?? 2;
    const maxCount = props.maxCount ?? 6;
    if (maxCount < desiredCount) throw new Error(`maxCount (${maxCount}) is below desiredCount (${desiredCount})`);
    const publicSubnets = { subnetType: ec2.SubnetType.PUBLIC };

    // --- Identity and permissions -------------------------------------------------
    this.taskRole = new iam.Role(this, 'TaskRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        },
      }),
      description: 'Submission relay task: invoke the policy function, send through SES, update rate counters, read the users change feed. Nothing else.',
    });
    props.policyFunction.grantInvoke(this.taskRole);
    props.sending.grantSendRawEmail(this.taskRole);
    props.tables.grantCounterUpdate(this.taskRole);
    props.tables.grantChangeFeedRead(this.taskRole);

    // --- Cluster and task ---------------------------------------------------------
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: (props.containerInsights ?? true) ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    if (!(props.containerInsights ?? true)) {
      Validations.of(this.cluster).acknowledge({
        id: 'AwsSolutions-ECS4',
        reason:
          'Container Insights is switched off by stage configuration only for disposable stages (dev) to save its per-metric cost; the relay\'s own EMF metrics, ECS service metrics and the NLB metrics remain.',
      });
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    const memoryLimitMiB = props.memoryLimitMiB ?? 1024;
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 512,
      memoryLimitMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
    });

    const linuxParameters = new ecs.LinuxParameters(this, 'LinuxParameters', {
      // tini as PID 1: forwards SIGTERM to node and reaps children.
      initProcessEnabled: true,
    });
    linuxParameters.dropCapabilities(ecs.Capability.ALL);

    this.container = this.taskDefinition.addContainer('Relay', {
      containerName: RELAY_CONTAINER_NAME,
      image: props.image ?? RelayService.defaultImage(),
      essential: true,
      // Numeric uid of the `node` user of the node images: non-root even if an image forgets USER.
      user: '1000:1000',
      readonlyRootFilesystem: true,
      linuxParameters,
      stopTimeout: Duration.seconds(Math.min(graceSeconds + 10, 120)),
      portMappings: [
        { name: 'submission', containerPort: RELAY_PORTS.submissionContainer, protocol: ecs.Protocol.TCP },
        { name: 'submissions', containerPort: RELAY_PORTS.submissionsContainer, protocol: ecs.Protocol.TCP },
        { name: 'health', containerPort: RELAY_PORTS.health, protocol: ecs.Protocol.TCP },
      ],
      environment: {
        SUBMISSION_PORT: String(RELAY_PORTS.submissionContainer),
        SUBMISSIONS_PORT: String(RELAY_PORTS.submissionsContainer),
        RELAY_LISTEN: '0.0.0.0',
        HEALTH_PORT: String(RELAY_PORTS.health),
        RELAY_HOSTNAME: props.hostname,
        POLICY_FUNCTION_NAME: props.policyFunction.function.functionName,
        // A little longer than the function's own timeout, so that a slow decision ends as a function error.
        POLICY_TIMEOUT_SECONDS: String(props.policyFunction.function.timeout!.toSeconds() + 2),
        SES_REGION: Stack.of(this).region,
        SES_CONFIGURATION_SET: props.sending.configurationSetName,
        MAX_MESSAGE_BYTES: String(props.maxMessageBytes ?? 25 * 1024 * 1024),
        SHUTDOWN_GRACE_SECONDS: String(graceSeconds),
        // Every SES attempt of a message in flight must end inside the grace period,
        // or a client told 421 at shutdown could have its message sent after all.
        SES_THROTTLE_RETRIES: String(SES_THROTTLE_RETRIES),
        SES_TIMEOUT_SECONDS: String(sesTimeoutWithin(graceSeconds)),
        COUNTERS_TABLE: props.tables.countersTable.tableName,
        // While the counters table cannot be reached each task allows a user 1/maxCount of
        // their limit, so that all the tasks there can ever be stay within it.
        QUOTA_FALLBACK_TASKS: String(maxCount),
        // Half the task's memory for messages being received; the rest is Node, TLS and sessions.
        MESSAGE_MEMORY_BUDGET_BYTES: String(memoryLimitMiB * 1024 * 1024 / 2),
        // For its change feed only (revocation); the task role may read nothing else of it.
        USERS_TABLE: props.tables.usersTable.tableName,
        METRICS_NAMESPACE: props.metrics.namespace,
        STAGE: props.stage,
        LOG_LEVEL: props.logLevel ?? 'info',
      },
      secrets: {
        TLS_CERT_PEM: ecs.Secret.fromSecretsManager(props.certificateSecret, 'certificate'),
        TLS_KEY_PEM: ecs.Secret.fromSecretsManager(props.certificateSecret, 'privateKey'),
      },
      logging: ecs.LogDrivers.awsLogs({
        logGroup: this.logGroup,
        streamPrefix: 'relay',
        // Never let a slow log service block the relay's event loop on stdout.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
    });
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Execution role (used by ECS, not by the relay): ecr:GetAuthorizationToken supports no resource-level permissions, so its resource must be "*". Image pulls are limited to the CDK asset repository, logs to the relay log group, secrets to the certificate secret.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret settings (ports, host name, function, table and configuration-set names, limits). The TLS certificate and key come from Secrets Manager through the task definition\'s secrets.',
    });

    // --- Network ------------------------------------------------------------------
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: false,
      description: 'Submission relay NLB: SMTP submission from any client',
    });
    this.loadBalancerSecurityGroup.addIngressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(RELAY_PORTS.submission),
      'SMTP submission with STARTTLS from any client',
    );
    this.loadBalancerSecurityGroup.addIngressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(RELAY_PORTS.submissions),
      'SMTP submission over implicit TLS from any client',
    );
    this.loadBalancerSecurityGroup.addIngressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.icmpTypeAndCode(3, 4),
      'ICMP fragmentation-needed, for path MTU discovery',
    );
    Validations.of(this.loadBalancerSecurityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'Public SMTP submission endpoint: mail clients connect from any network, so 587 and 465 (and ICMP type 3 code 4 for path MTU discovery) are open to 0.0.0.0/0 on the load balancer only. Clients must use TLS and authenticate; the tasks admit only this group.',
    });

    this.taskSecurityGroup = new ec2.SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: false,
      description: 'Submission relay tasks: traffic and health checks from the NLB only; HTTPS out to AWS APIs',
    });
    this.taskSecurityGroup.connections.allowFrom(
      this.loadBalancerSecurityGroup,
      ec2.Port.tcp(RELAY_PORTS.submissionContainer),
      'SMTP submission (587) through the NLB',
    );
    this.taskSecurityGroup.connections.allowFrom(
      this.loadBalancerSecurityGroup,
      ec2.Port.tcp(RELAY_PORTS.submissionsContainer),
      'SMTP submission over TLS (465) through the NLB',
    );
    this.taskSecurityGroup.connections.allowFrom(
      this.loadBalancerSecurityGroup,
      ec2.Port.tcp(RELAY_PORTS.health),
      'NLB health checks',
    );
    this.taskSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'AWS APIs over HTTPS: SES, Lambda, DynamoDB, Secrets Manager, ECR, CloudWatch Logs',
    );

    // --- Service ------------------------------------------------------------------
    // No desiredCount: CloudFormation then starts a new service with one task and
    // autoscaling raises it to the minimum, and a later deployment keeps whatever
    // count autoscaling has reached instead of resetting it.
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      assignPublicIp: true,
      vpcSubnets: publicSubnets,
      securityGroups: [this.taskSecurityGroup],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(60),
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      enableECSManagedTags: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
    });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: publicSubnets,
      securityGroups: [this.loadBalancerSecurityGroup],
      crossZoneEnabled: true,
      deletionProtection: props.loadBalancerDeletionProtection ?? true,
    });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason:
        'NLB access logs are written for TLS listeners only; these listeners are TCP pass-through (the relay terminates TLS itself), so there is nothing to log. The relay logs every session with the real client address (client IP preservation) and the VPC logs rejected flows.',
    });

    this.submissionTargets = this.addPort(props.vpc, 'Submission', RELAY_PORTS.submission, RELAY_PORTS.submissionContainer, graceSeconds);
    this.submissionsTargets = this.addPort(props.vpc, 'Submissions', RELAY_PORTS.submissions, RELAY_PORTS.submissionsContainer, graceSeconds);

    // --- Autoscaling --------------------------------------------------------------
    const scaling = this.service.autoScaleTaskCount({ minCapacity: desiredCount, maxCapacity: maxCount });
    // Scale in slowly: every scale-in drains a task for up to twice the grace time.
    scaling.scaleOnCpuUtilization('CpuScaling', {
      targetUtilizationPercent: props.cpuTargetPercent ?? 60,
      scaleOutCooldown: Duration.minutes(1),
      scaleInCooldown: Duration.minutes(10),
    });
    scaling.scaleToTrackCustomMetric('ConnectionScaling', {
      metric: props.metrics.connections({ period: Duration.minutes(1) }),
      targetValue: props.connectionsPerTask ?? 200,
      scaleOutCooldown: Duration.minutes(1),
      scaleInCooldown: Duration.minutes(10),
    });
  }

  /** The default image: `relay/Dockerfile`, repository root as context, built for linux/arm64 at deploy time. */
  static defaultImage(): ecs.ContainerImage {
    return ecs.ContainerImage.fromAsset(PROJECT_ROOT, {
      file: 'relay/Dockerfile',
      platform: Platform.LINUX_ARM64,
      // Keep the context (and the asset hash) to what an image build can use.
      exclude: [
        '.git',
        'node_modules',
        'cdk.out',
        '.relay',
        'bin',
        'lib',
        'test',
        'docs',
        'cdk.json',
        'cdk.context.json',
        '**/*.md',
      ],
    });
  }

  private addPort(vpc: ec2.IVpc, id: string, listenerPort: number, containerPort: number, graceSeconds: number): elbv2.NetworkTargetGroup {
    const targets = new elbv2.NetworkTargetGroup(this, `${id}Targets`, {
      vpc,
      port: containerPort,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.IP,
      preserveClientIp: true,
      deregistrationDelay: Duration.seconds(graceSeconds),
      connectionTermination: false,
      healthCheck: {
        enabled: true,
        protocol: elbv2.Protocol.HTTP,
        port: String(RELAY_PORTS.health),
        path: '/healthz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      targets: [this.service.loadBalancerTarget({ containerName: RELAY_CONTAINER_NAME, containerPort })],
    });
    // A target that turns unhealthy (503 while draining) keeps its open sessions for the grace time.
    targets.setAttribute('target_health_state.unhealthy.connection_termination.enabled', 'false');
    targets.setAttribute('target_health_state.unhealthy.draining_interval_seconds', String(graceSeconds));
    this.loadBalancer.addListener(`${id}Listener`, {
      port: listenerPort,
      protocol: elbv2.Protocol.TCP,
      defaultTargetGroups: [targets],
    });
    return targets;
  }
}

const SES_THROTTLE_RETRIES = 2;
/** Longest SES call the relay waits for, so that all attempts (and their back-off) fit in the grace period. */
export function sesTimeoutWithin(graceSeconds: number): number {
  const backoffSeconds = 1;
  return Math.max(1, Math.min(30, Math.floor((graceSeconds - backoffSeconds) / (SES_THROTTLE_RETRIES + 1))));
}
