import { RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { RelayState } from './relay-state.ts';
import type { StageConfig } from './stage-config.ts';
import { ReputationGuard } from './reputation-guard.ts';
import { SubmissionRelay } from './submission-relay.ts';

export interface RelayStackProps extends StackProps {
  /** Stage name. */
  readonly stage: string;
  /** The stage's validated settings. */
  readonly config: StageConfig;
  /** Tables, identities and certificate from the data stack. */
  readonly state: RelayState;
  /**
   * Entry file of the policy function.
   * @default - `lambda/handler.ts` of this repository
   */
  readonly policyFunctionEntry?: string;
  /**
   * Entry file of the reputation function.
   * @default - `lambda/reputation-function.ts` of this repository
   */
  readonly reputationFunctionEntry?: string;
  /**
   * The relay image.
   * @default - built from `relay/Dockerfile`
   */
  readonly image?: ecs.ContainerImage;
}

/**
 * The service stack of one stage: the `SubmissionRelay` construct configured
 * from `cdk.json`, and the SNS topic its alarms notify (with an e-mail
 * subscription when the stage names an address). Everything here can be
 * replaced or destroyed without losing data.
 */
export class RelayStack extends Stack {
  readonly relay: SubmissionRelay;
  readonly alarmTopic: sns.Topic;
  readonly reputation: ReputationGuard;

  constructor(scope: Construct, id: string, props: RelayStackProps) {
    super(scope, id, {
      description: `Submission relay (${props.stage}): NLB, Fargate service, policy function, alarms`,
      ...props,
    });
    const { config } = props;

    this.alarmTopic = new sns.Topic(this, 'Alarms', {
      displayName: `Submission relay ${props.stage} alarms`,
      enforceSSL: true,
    });
    if (config.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    }
    Validations.of(this.alarmTopic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason:
        'The topic carries CloudWatch alarm state changes only (alarm names, thresholds, metric values), no mail or user data. CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key would add cost and a key policy for no confidentiality gain.',
    });

    this.relay = new SubmissionRelay(this, 'Relay', {
      stage: props.stage,
      hostname: config.hostname,
      certificateSecret: props.state.certificateSecret,
      tables: props.state.tables,
      sendingIdentities: props.state.sending,
      maxMessageBytes: config.maxMessageBytes,
      desiredCount: config.desiredCount,
      maxCount: config.maxCount,
      taskCpu: config.taskCpu,
      taskMemoryMiB: config.taskMemoryMiB,
      logRetention: config.logRetentionDays as logs.RetentionDays,
      retain: config.retainData,
      alarmTopic: this.alarmTopic,
      shutdownGraceSeconds: config.shutdownGraceSeconds,
      logLevel: config.logLevel,
      containerInsights: config.containerInsights,
      connectionsPerTask: config.connectionsPerTask,
      authFailureAlarmThreshold: config.authFailureAlarmThreshold,
      ...(config.policyReservedConcurrency ? { policyReservedConcurrency: config.policyReservedConcurrency } : {}),
      ...(config.hostnameZone
        ? {
            hostnameZone: route53.PublicHostedZone.fromPublicHostedZoneAttributes(
              this,
              'HostnameZone',
              config.hostnameZone,
            ),
          }
        : {}),
      ...(props.policyFunctionEntry ? { policyFunctionEntry: props.policyFunctionEntry } : {}),
      ...(props.image ? { image: props.image } : {}),
    });

    const { messageTtlDays, ...thresholds } = config.reputation ?? {};
    this.reputation = new ReputationGuard(this, 'Reputation', {
      stage: props.stage,
      reputationTable: props.state.reputation.table,
      grantReputationWrite: (grantee) => props.state.reputation.grantReputationWrite(grantee),
      usersTable: props.state.tables.usersTable,
      configurationSetNames: props.state.sending.sendableConfigurationSetNames,
      ...(Object.keys(thresholds).length ? { thresholds } : {}),
      ...(messageTtlDays ? { messageTtlDays } : {}),
      ...(props.reputationFunctionEntry ? { entry: props.reputationFunctionEntry } : {}),
      alarmTopic: this.alarmTopic,
      logRetention: config.logRetentionDays as logs.RetentionDays,
      logRemovalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
  }
}
